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
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Chart describes the chart an application is exported as.
type Chart struct {
	Name, Version, AppVersion, Description string
	// Readme and Notes become README.md and templates/NOTES.txt.
	Readme, Notes string
	// Icon is a JPG, PNG or GIF image, packed as icon.<ext>.
	Icon []byte
}

// IconTypes are the image types an icon may be, by the extension it is
// packed with.
var IconTypes = map[string]string{"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}

// HelmChart renders a chart that installs the objects into the release's
// namespace: Chart.yaml, values.yaml, a template per object, and the
// README, NOTES and icon when given. Objects are templates as they are:
// any "{{" in them is escaped so that helm prints it rather than runs it.
// Without Secret data, the values of Secrets are the chart's values
// secrets.<secret>.<key>, empty in values.yaml.
func HelmChart(chart Chart, objects []*unstructured.Unstructured, secrets SecretData) (Artifact, error) {
	metadata := map[string]any{
		"apiVersion":  "v2",
		"name":        chart.Name,
		"version":     chart.Version,
		"description": chart.Description,
		"type":        "application",
	}
	if chart.AppVersion != "" {
		metadata["appVersion"] = chart.AppVersion
	}
	if metadata["description"] == "" {
		metadata["description"] = "The " + chart.Name + " application, exported from the platform"
	}
	chartYAML, err := yaml.Marshal(metadata)
	if err != nil {
		return Artifact{}, err
	}
	files := map[string][]byte{
		"Chart.yaml": chartYAML,
	}
	placeholders := newSecretPlaceholders()
	for _, obj := range ordered(objects) {
		file := "templates/" + fileName(obj)
		if _, seen := files[file]; seen {
			continue
		}
		tokens := 0
		if secrets == OmitSecretData && isSecret(obj) {
			obj, tokens = placeholders.replaceValues(obj)
		}
		data, err := yaml.Marshal(Simplify(obj).Object)
		if err != nil {
			return Artifact{}, fmt.Errorf("%s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if strings.Count(string(data), placeholderPrefix) != tokens {
			return Artifact{}, fmt.Errorf("%s %s holds text archon uses to mark Secret values; rename it or export with Secret data", obj.GetKind(), obj.GetName())
		}
		files[file] = placeholders.expand(escapeTemplate(data))
	}
	values, err := valuesYAML(placeholders.values)
	if err != nil {
		return Artifact{}, err
	}
	files["values.yaml"] = values
	if chart.Readme != "" {
		files["README.md"] = []byte(chart.Readme)
	}
	if chart.Notes != "" {
		// NOTES are the chart author's text, templated as helm templates
		// its notes ({{ .Release.Namespace }} and the like).
		files["templates/NOTES.txt"] = []byte(chart.Notes)
	}
	if len(chart.Icon) > 0 {
		ext, ok := IconTypes[http.DetectContentType(chart.Icon)]
		if !ok {
			return Artifact{}, fmt.Errorf("the icon is %s, not a JPG, PNG or GIF image", http.DetectContentType(chart.Icon))
		}
		files["icon."+ext] = chart.Icon
	}
	return tarball(chart.Name, files)
}

// valuesYAML is the chart's values.yaml: the Secret values it takes, if
// any.
func valuesYAML(secrets map[string]map[string]any) ([]byte, error) {
	if len(secrets) == 0 {
		return []byte("# The exported application's objects take no values.\n{}\n"), nil
	}
	data, err := yaml.Marshal(map[string]any{"secrets": secrets})
	if err != nil {
		return nil, err
	}
	return append([]byte("# The values of the application's Secrets, left out of the export: give them here as\n"+
		"# plain text (the chart encodes them), secrets.<secret>.<key>.\n"), data...), nil
}

// escapeTemplate makes text print as itself when helm renders it.
func escapeTemplate(text []byte) []byte {
	return []byte(strings.ReplaceAll(string(text), "{{", `{{ "{{" }}`))
}
