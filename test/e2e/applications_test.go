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
---
apiVersion: app.k8s.io/v1beta1
kind: ApplicationHistory
metadata:
  name: shop-1
  namespace: apps-a
spec:
  applicationName: shop
  revision: 1
  yaml: "apiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n"
`
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, manifest, "apply", "--server-side", "-f", "-")
		return err
	})
	table := adminKubectl(t, "", "get", "applications", "-n", "apps-a")
	if !strings.Contains(table, "shop") || !strings.Contains(table, "web") || !strings.Contains(table, "1.2.0") {
		t.Errorf("kubectl get applications:\n%s", table)
	}
	if out := adminKubectl(t, "", "get", "applicationhistories", "-n", "apps-a", "-o", "jsonpath={.items[0].spec.revision}"); out != "1" {
		t.Errorf("application history revision: %q", out)
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
}
