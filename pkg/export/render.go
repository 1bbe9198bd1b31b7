/*
Copyright The Archon Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package export

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Artifact is what an export produces.
type Artifact struct {
	Data        []byte
	ContentType string
	// Files are the paths inside the artifact.
	Files []string
}

// ordered sorts objects the way they apply cleanly: namespaced
// configuration before what uses it, by kind, then by name.
func ordered(objects []*unstructured.Unstructured) []*unstructured.Unstructured {
	rank := map[string]int{"ServiceAccount": 0, "Secret": 1, "ConfigMap": 2, "PersistentVolumeClaim": 3, "Service": 4}
	out := append([]*unstructured.Unstructured(nil), objects...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, iok := rank[out[i].GetKind()]
		rj, jok := rank[out[j].GetKind()]
		if !iok {
			ri = len(rank)
		}
		if !jok {
			rj = len(rank)
		}
		if ri != rj {
			return ri < rj
		}
		if out[i].GetKind() != out[j].GetKind() {
			return out[i].GetKind() < out[j].GetKind()
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out
}

// YAML renders the simplified objects as one YAML stream, application.yaml.
func YAML(name string, objects []*unstructured.Unstructured, secrets SecretData) (Artifact, error) {
	var buf bytes.Buffer
	for i, obj := range ordered(objects) {
		if secrets == OmitSecretData {
			obj = withoutSecretValues(obj)
		}
		data, err := yaml.Marshal(Simplify(obj).Object)
		if err != nil {
			return Artifact{}, fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(data)
	}
	return Artifact{Data: buf.Bytes(), ContentType: "application/yaml", Files: []string{name + ".yaml"}}, nil
}

// Kustomize renders a Kustomize base: one file per object and a
// kustomization.yaml listing them, in a gzipped tarball under <name>/.
func Kustomize(name string, objects []*unstructured.Unstructured, secrets SecretData) (Artifact, error) {
	files := map[string][]byte{}
	var resources []string
	for _, obj := range ordered(objects) {
		file := fileName(obj)
		if _, seen := files[file]; seen {
			continue // listed twice by the application's component kinds
		}
		if secrets == OmitSecretData {
			obj = withoutSecretValues(obj)
		}
		data, err := yaml.Marshal(Simplify(obj).Object)
		if err != nil {
			return Artifact{}, fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		files[file] = data
		resources = append(resources, file)
	}
	kustomization, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  resources,
	})
	if err != nil {
		return Artifact{}, err
	}
	files["kustomization.yaml"] = kustomization
	return tarball(name, files)
}

// tarball packs files under dir/ in a gzipped tar with fixed times, so the
// same objects give the same bytes.
func tarball(dir string, files map[string][]byte) (Artifact, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	artifact := Artifact{ContentType: "application/gzip"}
	for _, name := range names {
		path := dir + "/" + name
		header := &tar.Header{Name: path, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(header); err != nil {
			return Artifact{}, err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return Artifact{}, err
		}
		artifact.Files = append(artifact.Files, path)
	}
	if err := tw.Close(); err != nil {
		return Artifact{}, err
	}
	if err := gz.Close(); err != nil {
		return Artifact{}, err
	}
	artifact.Data = buf.Bytes()
	return artifact, nil
}

// fileName names an object's file in a Kustomize base: its kind, its group
// when it has one (a Knative Service is not a Service), and its name, with
// nothing that could leave the base's directory.
func fileName(obj *unstructured.Unstructured) string {
	kind := strings.ToLower(obj.GetKind())
	if group := obj.GroupVersionKind().Group; group != "" {
		kind += "." + group
	}
	name := strings.NewReplacer("/", "_", "\\", "_", "..", "_").Replace(obj.GetName())
	return kind + "-" + name + ".yaml"
}
