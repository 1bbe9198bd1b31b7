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
	"io"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func object(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

var liveService = `
apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: team-a
  uid: 0b5e
  resourceVersion: "812"
  creationTimestamp: "2026-11-27T08:00:00Z"
  labels: {app.kubernetes.io/name: shop}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  managedFields: [{manager: kubectl}]
spec:
  type: NodePort
  clusterIP: 10.96.0.12
  clusterIPs: [10.96.0.12]
  ports: [{port: 80, targetPort: 8080, nodePort: 31234}]
  selector: {app.kubernetes.io/name: shop}
status:
  loadBalancer: {}
`

var liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: team-a
  generation: 3
  annotations: {deployment.kubernetes.io/revision: "3", team: a}
  ownerReferences: [{apiVersion: app.k8s.io/v1beta1, kind: Application, name: shop, uid: x}]
spec:
  replicas: 2
  selector: {matchLabels: {app.kubernetes.io/name: shop}}
  template:
    metadata: {creationTimestamp: null, labels: {app.kubernetes.io/name: shop}}
    spec: {containers: [{name: shop, image: shop:1.2.0}]}
status: {replicas: 2}
`

func TestSimplifyKeepsWhatAppliesElsewhere(t *testing.T) {
	service := Simplify(object(t, liveService))
	data, _ := yaml.Marshal(service.Object)
	for _, gone := range []string{"uid", "resourceVersion", "creationTimestamp", "last-applied", "managedFields", "namespace", "clusterIP", "nodePort", "status", "loadBalancer"} {
		if strings.Contains(string(data), gone) {
			t.Errorf("simplified Service still has %s:\n%s", gone, data)
		}
	}
	for _, kept := range []string{"NodePort", "targetPort: 8080", "app.kubernetes.io/name: shop"} {
		if !strings.Contains(string(data), kept) {
			t.Errorf("simplified Service lost %s:\n%s", kept, data)
		}
	}

	deployment := Simplify(object(t, liveDeployment))
	data, _ = yaml.Marshal(deployment.Object)
	for _, gone := range []string{"generation", "ownerReferences", "deployment.kubernetes.io/revision", "creationTimestamp", "status"} {
		if strings.Contains(string(data), gone) {
			t.Errorf("simplified Deployment still has %s:\n%s", gone, data)
		}
	}
	if deployment.GetAnnotations()["team"] != "a" {
		t.Errorf("the user's annotation was dropped: %v", deployment.GetAnnotations())
	}
	in := object(t, liveService)
	before := in.DeepCopy()
	Simplify(in)
	if !reflect.DeepEqual(in.Object, before.Object) {
		t.Errorf("Simplify changed its argument: %v, was %v", in.Object, before.Object)
	}
}

func TestYAMLPutsServicesBeforeWorkloads(t *testing.T) {
	artifact, err := YAML("shop", []*unstructured.Unstructured{object(t, liveDeployment), object(t, liveService)}, OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(artifact.Data), "---\n")
	if len(docs) != 2 || !strings.Contains(docs[0], "kind: Service") || !strings.Contains(docs[1], "kind: Deployment") {
		t.Errorf("YAML stream:\n%s", artifact.Data)
	}
	if artifact.ContentType != "application/yaml" || strings.Join(artifact.Files, ",") != "shop.yaml" {
		t.Errorf("artifact %s %v", artifact.ContentType, artifact.Files)
	}
}

func TestKustomizeBaseListsEveryFile(t *testing.T) {
	artifact, err := Kustomize("shop", []*unstructured.Unstructured{object(t, liveDeployment), object(t, liveService)}, OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, artifact.Data)
	kustomization := files["shop/kustomization.yaml"]
	for _, file := range []string{"service-shop.yaml", "deployment.apps-shop.yaml"} {
		if !strings.Contains(kustomization, "- "+file) || files["shop/"+file] == "" {
			t.Errorf("%s missing from the base: %v\n%s", file, artifact.Files, kustomization)
		}
	}
	if len(artifact.Files) != 3 {
		t.Errorf("files %v", artifact.Files)
	}
	again, _ := Kustomize("shop", []*unstructured.Unstructured{object(t, liveService), object(t, liveDeployment)}, OmitSecretData)
	if !bytes.Equal(again.Data, artifact.Data) {
		t.Error("the same objects gave different bytes")
	}
}

func TestKustomizeKeepsKindsOfOtherGroupsApart(t *testing.T) {
	knative := object(t, "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: shop}\n")
	service := object(t, liveService)
	artifact, err := Kustomize("shop", []*unstructured.Unstructured{service, knative, service}, OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(artifact.Files, ",") != "shop/kustomization.yaml,shop/service-shop.yaml,shop/service.serving.knative.dev-shop.yaml" {
		t.Errorf("files %v", artifact.Files)
	}
}

func TestHelmChartTemplatesPrintObjectsAsTheyAre(t *testing.T) {
	configMap := object(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: greeter, namespace: shop, uid: abc}
data: {template: "Hello {{ .Name }}"}
`)
	artifact, err := HelmChart(Chart{Name: "shop", Version: "v1.0.0", Notes: "In {{ .Release.Namespace }}", Icon: []byte("GIF89a\x01\x00")}, []*unstructured.Unstructured{configMap}, OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, artifact.Data)
	want := []string{"shop/Chart.yaml", "shop/icon.gif", "shop/templates/NOTES.txt", "shop/templates/configmap-greeter.yaml", "shop/values.yaml"}
	if strings.Join(artifact.Files, ",") != strings.Join(want, ",") {
		t.Errorf("files %v, want %v", artifact.Files, want)
	}
	if got := files["shop/templates/configmap-greeter.yaml"]; !strings.Contains(got, `Hello {{ "{{" }} .Name }}`) || strings.Contains(got, "namespace") || strings.Contains(got, "uid") {
		t.Errorf("the ConfigMap's template:\n%s", got)
	}
	if got := files["shop/templates/NOTES.txt"]; got != "In {{ .Release.Namespace }}" {
		t.Errorf("NOTES are the author's template: %q", got)
	}
	if got := files["shop/Chart.yaml"]; !strings.Contains(got, "version: v1.0.0") || !strings.Contains(got, "apiVersion: v2") {
		t.Errorf("Chart.yaml:\n%s", got)
	}
	if _, err := HelmChart(Chart{Name: "shop", Version: "v1.0.0", Icon: []byte("<svg/>")}, nil, OmitSecretData); err == nil {
		t.Error("an SVG icon was packed")
	}
}

// untar reads a gzipped tarball's files by path.
func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		header, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		files[header.Name] = string(content)
	}
}

const secretComponent = `
apiVersion: v1
kind: Secret
metadata: {name: db-credentials, namespace: shop}
type: Opaque
data: {password: aHVudGVyMg==, user.name: YWRtaW4=}
stringData: {token: s3cret-token}
`

// Secret values never leave in an export unless asked for: YAML and
// Kustomize carry empty values, a chart takes them as values and renders
// them with helm into the Secret.
func TestExportsLeaveSecretValuesOut(t *testing.T) {
	secret := object(t, secretComponent)
	for format, render := range map[string]func(SecretData) (Artifact, error){
		"YAML": func(s SecretData) (Artifact, error) { return YAML("shop", []*unstructured.Unstructured{secret}, s) },
		"Kustomize": func(s SecretData) (Artifact, error) {
			return Kustomize("shop", []*unstructured.Unstructured{secret}, s)
		},
		"HelmChart": func(s SecretData) (Artifact, error) {
			return HelmChart(Chart{Name: "shop", Version: "v1.0.0"}, []*unstructured.Unstructured{secret}, s)
		},
	} {
		omitted, err := render(OmitSecretData)
		if err != nil {
			t.Fatal(err)
		}
		text := string(omitted.Data)
		if format != "YAML" {
			text = fmt.Sprint(untar(t, omitted.Data))
		}
		for _, value := range []string{"aHVudGVyMg==", "YWRtaW4=", "s3cret-token"} {
			if strings.Contains(text, value) {
				t.Errorf("%s without Secret data holds %s:\n%s", format, value, text)
			}
		}
		included, err := render(IncludeSecretData)
		if err != nil {
			t.Fatal(err)
		}
		text = string(included.Data)
		if format != "YAML" {
			text = fmt.Sprint(untar(t, included.Data))
		}
		if !strings.Contains(text, "aHVudGVyMg==") {
			t.Errorf("%s with Secret data lost it:\n%s", format, text)
		}
	}

	artifact, err := HelmChart(Chart{Name: "shop", Version: "v1.0.0"}, []*unstructured.Unstructured{secret}, OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := loader.LoadArchive(bytes.NewReader(artifact.Data))
	if err != nil {
		t.Fatal(err)
	}
	values, err := chartutil.ToRenderValues(loaded, map[string]any{"secrets": map[string]any{
		"db-credentials": map[string]any{"password": "hunter2", "user.name": "admin", "token": "t0k"},
	}}, chartutil.ReleaseOptions{Name: "shop", Namespace: "shop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := engine.Render(loaded, values)
	if err != nil {
		t.Fatal(err)
	}
	manifest := rendered["shop/templates/secret-db-credentials.yaml"]
	for _, want := range []string{`password: "aHVudGVyMg=="`, `user.name: "YWRtaW4="`, `token: "t0k"`} {
		if !strings.Contains(manifest, want) {
			t.Errorf("the rendered Secret lacks %s:\n%s", want, manifest)
		}
	}
	defaults := string(loaded.Values["secrets"].(map[string]any)["db-credentials"].(map[string]any)["password"].(string))
	if defaults != "" {
		t.Errorf("values.yaml gives the password %q", defaults)
	}
}
