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

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

func TestChartReposThroughKubectl(t *testing.T) {
	createNamespaces(t, "catalog-a")
	adminKubectl(t, `
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata:
  name: stable
  namespace: catalog-a
  labels:
    project.cpaas.io/catalog: "true"
spec:
  type: Chart
  url: https://charts.example.com/stable
---
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata:
  name: team
  namespace: catalog-a
spec:
  type: Local
`, "apply", "--server-side", "-f", "-")

	table := adminKubectl(t, "", "get", "chartrepos", "-n", "catalog-a")
	for _, want := range []string{"NAME", "TYPE", "URL", "PHASE", "CHARTS", "AGE", "stable", "https://charts.example.com/stable", "/chartrepos/catalog-a/team/"} {
		if !strings.Contains(table, want) {
			t.Errorf("kubectl get chartrepos lacks %q:\n%s", want, table)
		}
	}
	if out := adminKubectl(t, "", "get", "chartrepos", "-A", "-l", "project.cpaas.io/catalog", "-o", "name"); strings.TrimSpace(out) != "chartrepo.app.alauda.io/stable" {
		t.Errorf("catalog repositories by label: %q", out)
	}
	if out := adminKubectl(t, "", "get", "ctr", "-n", "catalog-a", "--field-selector", "spec.type=Local", "-o", "name"); strings.TrimSpace(out) != "chartrepo.app.alauda.io/team" {
		t.Errorf("Local repositories by field: %q", out)
	}

	_, err := kubectl(t, plane.KubeconfigPath, "", "patch", "chartrepo", "stable", "-n", "catalog-a", "--type=merge", "-p", `{"spec":{"url":"https://elsewhere.example.com"}}`)
	if err == nil || !strings.Contains(err.Error(), "spec.url") || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("changing the URL: %v", err)
	}
	_, err = kubectl(t, plane.KubeconfigPath, `
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata: {name: broken, namespace: catalog-a}
spec: {type: Chart, url: "ftp://charts.example.com"}
`, "create", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "spec.url") {
		t.Errorf("an ftp URL: %v", err)
	}
	// kube-apiserver merges archon's OpenAPI a moment after the group is served.
	eventually(t, "kubectl explain chartrepo.spec.url", func() error {
		out, err := kubectl(t, plane.KubeconfigPath, "", "explain", "chartrepo.spec.url")
		if err == nil && !strings.Contains(out, "cannot change") {
			err = fmt.Errorf("explain says:\n%s", out)
		}
		return err
	})

	// kube-controller-manager empties a namespace with a DeleteCollection
	// per resource, asking for protobuf first: archon must answer in JSON.
	adminKubectl(t, "", "delete", "namespace", "catalog-a", "--timeout=60s")
}
