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

package v1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

func addFieldLabelConversions(scheme *runtime.Scheme) error {
	if err := addFieldLabels(scheme, "NamespaceImport", "namespaceimports", "metadata.name",
		auth.NamespaceImportProjectField, auth.NamespaceImportNamespaceField, auth.NamespaceImportPhaseField); err != nil {
		return err
	}
	return addFieldLabels(scheme, "Project", "projects", "metadata.name", auth.ProjectPhaseField)
}

// addFieldLabels lets lists and watches of kind select by the fields
// given, and refuses the others.
func addFieldLabels(scheme *runtime.Scheme, kind, resource string, supported ...string) error {
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind(kind),
		func(label, value string) (string, string, error) {
			for _, field := range supported {
				if label == field {
					return label, value, nil
				}
			}
			return "", "", fmt.Errorf("field label not supported for %s: %q; select by one of %s", resource, label, strings.Join(supported, ", "))
		})
}
