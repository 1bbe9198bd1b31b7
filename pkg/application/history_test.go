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

package application_test

import (
	"strings"
	"testing"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/export"
)

// A history may record its objects as a List: its items are the objects,
// and a Secret among them loses its values like any other.
func TestHistoryListsAreTheirItems(t *testing.T) {
	stream := `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: db}
  data: {password: aHVudGVyMg==}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
  data: {color: blue}
---
apiVersion: v1
kind: Service
metadata: {name: web}
`
	objects, err := application.DecodeStream(stream, "shop-1")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, obj := range objects {
		kinds = append(kinds, obj.GetKind())
	}
	if strings.Join(kinds, ",") != "Secret,ConfigMap,Service" {
		t.Fatalf("objects of kinds %v, want the List's items and the Service", kinds)
	}
	artifact, err := export.YAML("shop", objects, export.OmitSecretData)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(artifact.Data), "aHVudGVyMg==") {
		t.Errorf("the Secret of a history's List kept its value:\n%s", artifact.Data)
	}
}
