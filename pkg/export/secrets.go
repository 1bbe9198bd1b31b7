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
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SecretData says what an export does with the values of Secrets: an
// artifact travels further than the namespace, to people and repositories
// that could not read the Secrets.
type SecretData bool

const (
	// OmitSecretData leaves the values out: empty in YAML and Kustomize,
	// chart values (secrets.<secret>.<key>) in a chart.
	OmitSecretData SecretData = false
	// IncludeSecretData keeps them.
	IncludeSecretData SecretData = true
)

// OmittedAnnotation marks a Secret whose values an export left out.
const OmittedAnnotation = "app.alauda.io/secret-data"

// secretFields are the fields of a Secret that hold its values.
var secretFields = []string{"data", "stringData"}

func isSecret(obj *unstructured.Unstructured) bool {
	return obj.GetKind() == "Secret" && obj.GroupVersionKind().Group == ""
}

// withoutSecretValues returns obj, or for a Secret a copy whose values
// are empty and whose annotation says so.
func withoutSecretValues(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if !isSecret(obj) {
		return obj
	}
	out := obj.DeepCopy()
	for _, field := range secretFields {
		values, _, _ := unstructured.NestedMap(out.Object, field)
		for key := range values {
			values[key] = ""
		}
		if len(values) > 0 {
			_ = unstructured.SetNestedMap(out.Object, values, field)
		}
	}
	annotations := out.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[OmittedAnnotation] = "omitted by the export: fill in the values before applying"
	out.SetAnnotations(annotations)
	return out
}

// secretPlaceholders stands chart values in for the values of Secrets: a
// Secret's values become unique tokens, which survive YAML marshaling and
// template escaping as they are, and are then replaced by the template
// expressions reading secrets.<secret>.<key> from the chart's values.
type secretPlaceholders struct {
	expressions map[string]string
	// values is values.yaml's secrets: secret name to key to "".
	values map[string]map[string]any
}

// placeholderPrefix starts every token; a document already holding it is
// refused rather than have its text replaced.
const placeholderPrefix = "archon-secret-value-placeholder-"

func newSecretPlaceholders() *secretPlaceholders {
	return &secretPlaceholders{expressions: map[string]string{}, values: map[string]map[string]any{}}
}

// replaceValues returns a copy of a Secret whose values are tokens, and
// how many it holds.
func (p *secretPlaceholders) replaceValues(obj *unstructured.Unstructured) (*unstructured.Unstructured, int) {
	out := obj.DeepCopy()
	tokens := 0
	for _, field := range secretFields {
		values, _, _ := unstructured.NestedMap(out.Object, field)
		for key := range values {
			token := fmt.Sprintf("%s%d", placeholderPrefix, len(p.expressions))
			expression := fmt.Sprintf(`{{ index .Values.secrets %q %q | toString | quote }}`, obj.GetName(), key)
			if field == "data" {
				expression = fmt.Sprintf(`{{ index .Values.secrets %q %q | toString | b64enc | quote }}`, obj.GetName(), key)
			}
			p.expressions[token] = expression
			if p.values[obj.GetName()] == nil {
				p.values[obj.GetName()] = map[string]any{}
			}
			p.values[obj.GetName()][key] = ""
			values[key] = token
			tokens++
		}
		if len(values) > 0 {
			_ = unstructured.SetNestedMap(out.Object, values, field)
		}
	}
	return out, tokens
}

// expand replaces the tokens of a template by their expressions.
func (p *secretPlaceholders) expand(template []byte) []byte {
	if len(p.expressions) == 0 {
		return template
	}
	tokens := make([]string, 0, len(p.expressions))
	for token := range p.expressions {
		tokens = append(tokens, token)
	}
	// Longest first, so that token 1 does not replace the start of 10.
	sort.Slice(tokens, func(i, j int) bool { return len(tokens[i]) > len(tokens[j]) })
	pairs := make([]string, 0, 2*len(tokens))
	for _, token := range tokens {
		pairs = append(pairs, token, p.expressions[token])
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(template)))
}
