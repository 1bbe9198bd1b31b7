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

// Package templateapp is what makes an Application a template
// application: the annotations naming a chart, the requester archon acts
// as, the conditions reporting its work, and the helm actions that
// install, upgrade, roll back and uninstall the chart as that requester.
package templateapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The annotations of a template application, as the platform documents
// them.
const (
	// SourceAnnotation names the chart: <repository>/<chart>.
	SourceAnnotation = "app.cpaas.io/chart.source"
	// VersionAnnotation is the chart's version.
	VersionAnnotation = "app.cpaas.io/chart.version"
	// ValuesAnnotation holds the values, a JSON object.
	ValuesAnnotation = "app.cpaas.io/chart.values"
	// RequesterAnnotation records who archon acts as: the user who
	// created the application or last changed its chart annotations. The
	// admission webhook writes it; whatever a user writes there is undone.
	RequesterAnnotation = "app.cpaas.io/chart.requester"
)

// ChartAnnotations are the annotations a user writes to choose a chart.
var ChartAnnotations = []string{SourceAnnotation, VersionAnnotation, ValuesAnnotation}

const (
	// Finalizer keeps a template application until its release is
	// uninstalled.
	Finalizer = "app.cpaas.io/chart-release"
	// NameLabel selects a template application's objects when the
	// application brings no selector of its own: archon labels every
	// object of the chart with the selector's labels.
	NameLabel = "app.cpaas.io/name"
	// MaxValuesBytes bounds the values annotation, under the 256 KiB
	// kube-apiserver allows all annotations of an object together.
	MaxValuesBytes = 128 << 10
	// MaxReleaseName is the longest release name helm accepts, and so
	// the longest name of a template application.
	MaxReleaseName = 53
)

// Template is the chart a template application asks for.
type Template struct {
	Repository string
	Chart      string
	Version    string
	// Values are the chart values, decoded from the annotation.
	Values map[string]any
	// values is the annotation as written, for the hash.
	values string
}

// IsTemplate says whether obj is a template application: it names a
// chart.
func IsTemplate(obj metav1.Object) bool {
	_, ok := obj.GetAnnotations()[SourceAnnotation]
	return ok
}

// TemplateOf reads the chart annotations of a template application. Its
// errors say which annotation is wrong and how to write it.
func TemplateOf(obj metav1.Object) (Template, error) {
	annotations := obj.GetAnnotations()
	source := annotations[SourceAnnotation]
	repository, chart, ok := strings.Cut(source, "/")
	if !ok || repository == "" || chart == "" || strings.Contains(chart, "/") {
		return Template{}, fmt.Errorf("annotation %s is %q: write it as <repository>/<chart>, such as team/web", SourceAnnotation, source)
	}
	for _, part := range []struct{ what, value string }{{"repository", repository}, {"chart", chart}} {
		if problems := validation.IsDNS1123Subdomain(part.value); len(problems) > 0 {
			return Template{}, fmt.Errorf("annotation %s: the %s %q is not a valid name: %s", SourceAnnotation, part.what, part.value, strings.Join(problems, "; "))
		}
	}
	version := annotations[VersionAnnotation]
	if version == "" {
		return Template{}, fmt.Errorf("annotation %s is missing: name the chart version to install (kubectl get chart %s.%s -o jsonpath='{.status.versions[*].version}' lists them)",
			VersionAnnotation, chart, repository)
	}
	if _, err := semver.StrictNewVersion(version); err != nil {
		return Template{}, fmt.Errorf("annotation %s is %q: not a semantic version such as 1.2.0", VersionAnnotation, version)
	}
	t := Template{Repository: repository, Chart: chart, Version: version, Values: map[string]any{}}
	if raw, ok := annotations[ValuesAnnotation]; ok && strings.TrimSpace(raw) != "" {
		if len(raw) > MaxValuesBytes {
			return Template{}, fmt.Errorf("annotation %s is %d bytes; at most %d are accepted", ValuesAnnotation, len(raw), MaxValuesBytes)
		}
		decoder := json.NewDecoder(strings.NewReader(raw))
		decoder.UseNumber()
		var values any
		if err := decoder.Decode(&values); err != nil {
			return Template{}, fmt.Errorf("annotation %s is not JSON: %w; write the values as a JSON object such as {\"replicaCount\":2}", ValuesAnnotation, err)
		}
		object, ok := values.(map[string]any)
		if !ok || decoder.More() {
			return Template{}, fmt.Errorf("annotation %s must hold one JSON object, such as {\"replicaCount\":2}", ValuesAnnotation)
		}
		t.Values, t.values = normalize(object).(map[string]any), raw
	}
	return t, nil
}

// normalize turns JSON numbers into what helm's own YAML decoding of
// values gives: int64 for integers, float64 otherwise.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, item := range v {
			v[k] = normalize(item)
		}
		return v
	case []any:
		for i, item := range v {
			v[i] = normalize(item)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	}
	return v
}

// Source is the template's chart as the annotation names it.
func (t Template) Source() string { return t.Repository + "/" + t.Chart }

// Hash identifies the template: the chart, its version and the values,
// as helm release labels record it. Values differing only in spacing or
// key order hash alike.
func (t Template) Hash() string {
	values, _ := json.Marshal(t.Values) // maps marshal with sorted keys
	return hash(t.Source(), t.Version, string(values))
}

func hash(parts ...string) string {
	var b bytes.Buffer
	for _, part := range parts {
		b.WriteString(part)
		b.WriteByte(0)
	}
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:16])
}
