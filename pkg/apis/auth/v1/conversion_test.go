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

package v1_test

import (
	"testing"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// The server asks the scheme whether a field selector may be used before it
// lists; a label the storage cannot match must be refused there.
func TestProjectFieldLabelConversion(t *testing.T) {
	tests := []struct {
		label   string
		wantErr bool
	}{
		{label: "metadata.name"},
		{label: "status.phase"},
		// Projects are cluster-scoped, so unlike the scheme's fallback for
		// kinds without a conversion, metadata.namespace is refused.
		{label: "metadata.namespace", wantErr: true},
		{label: "status.namespaces", wantErr: true},
		{label: "spec.clusters", wantErr: true},
		{label: "", wantErr: true},
	}
	scheme := newScheme()
	gvk := authv1.SchemeGroupVersion.WithKind("Project")
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			label, value, err := scheme.ConvertFieldLabel(gvk, tc.label, "Active")
			if tc.wantErr {
				if err == nil {
					t.Errorf("ConvertFieldLabel(%q) = %q, %q; want an error", tc.label, label, value)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConvertFieldLabel(%q): %v", tc.label, err)
			}
			if label != tc.label || value != "Active" {
				t.Errorf("ConvertFieldLabel(%q) = %q, %q; want the label and value unchanged", tc.label, label, value)
			}
		})
	}
}
