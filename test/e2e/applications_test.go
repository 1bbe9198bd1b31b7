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

func TestApplicationsAreServed(t *testing.T) {
	createNamespaces(t, "apps-a")
	manifest := `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata:
  name: shop
  namespace: apps-a
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: apps, kind: Deployment}
  - {group: "", kind: Service}
  descriptor:
    type: web
    version: "1.2.0"
`
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, manifest, "apply", "--server-side", "-f", "-")
		return err
	})
	table := adminKubectl(t, "", "get", "applications", "-n", "apps-a")
	if !strings.Contains(table, "shop") || !strings.Contains(table, "web") || !strings.Contains(table, "1.2.0") {
		t.Errorf("kubectl get applications:\n%s", table)
	}
	// Histories are archon's record: not even a cluster admin writes one.
	history := `
apiVersion: app.k8s.io/v1beta1
kind: ApplicationHistory
metadata: {name: shop-1, namespace: apps-a}
spec: {applicationName: shop, revision: 1, user: someone-else}
`
	eventually(t, "an admin's history refused", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, history, "create", "--dry-run=server", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), "application histories are written by archon only") {
			return fmt.Errorf("an admin may write an application history: %w", err)
		}
		return nil
	})
	adminKubectl(t, history, "create", "-f", "-", "--as="+archonIdentity)
	if out := adminKubectl(t, "", "get", "applicationhistories", "-n", "apps-a", "-o", "jsonpath={.items[0].spec.revision}"); out != "1" {
		t.Errorf("application history revision: %q", out)
	}
	if _, err := kubectl(t, plane.KubeconfigPath, "", "patch", "applicationhistory", "shop-1", "-n", "apps-a", "--type=merge",
		"-p", `{"spec":{"user":"me"}}`); err == nil {
		t.Error("an admin changed an application history")
	}
	_, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: ApplicationHistory
metadata: {name: shop-0, namespace: apps-a}
spec: {applicationName: shop, revision: 0}
`, "create", "-f", "-")
	if err == nil || !strings.Contains(err.Error(), "spec.revision") {
		t.Errorf("revision 0: %v", err)
	}
	// Developers of the namespace manage applications.
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=dana", "-n", "apps-a")
	eventually(t, "developers may create applications", func() error {
		out, _ := kubectl(t, plane.KubeconfigPath, "", "auth", "can-i", "create", "applications.app.k8s.io", "-n", "apps-a", "--as=dana")
		if strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can-i says %q", out)
		}
		return nil
	})
	// and read histories, but never write them.
	for verb, want := range map[string]string{"get": "yes", "create": "no", "update": "no", "delete": "no"} {
		if out, _ := kubectl(t, plane.KubeconfigPath, "", "auth", "can-i", verb, "applicationhistories.app.k8s.io", "-n", "apps-a", "--as=dana"); strings.TrimSpace(out) != want {
			t.Errorf("can dana %s application histories? %q, want %s", verb, out, want)
		}
	}
}
