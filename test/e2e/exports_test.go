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
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
)

const shopManifests = `
apiVersion: v1
kind: ConfigMap
metadata: {name: shop-config, labels: {app.kubernetes.io/name: shop}}
data: {greeting: hello}
---
apiVersion: v1
kind: Service
metadata: {name: shop, labels: {app.kubernetes.io/name: shop}}
spec:
  type: NodePort
  selector: {app.kubernetes.io/name: shop}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, labels: {app.kubernetes.io/name: shop}}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: shop}}
  template:
    metadata: {labels: {app.kubernetes.io/name: shop}}
    spec: {containers: [{name: shop, image: shop:1.2.0}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, labels: {app.kubernetes.io/name: shop}}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 80}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-the-shop}
data: {other: value}
---
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: shop}}
  componentKinds:
  - {group: "", kind: ConfigMap}
  - {group: "", kind: Service}
  - {group: apps, kind: Deployment}
  - {group: networking.k8s.io, kind: Ingress}
`

func exportShop(t *testing.T, format appv1beta1.ApplicationExportFormat) *appv1beta1.ApplicationExport {
	t.Helper()
	exp, err := archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"},
		Spec:       appv1beta1.ApplicationExportSpec{Application: "shop", Format: format},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("export as %s: %v", format, err)
	}
	return exp
}

func TestApplicationExports(t *testing.T) {
	createNamespaces(t, "export-a", "export-b", "export-c")
	eventually(t, "the shop applied", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, shopManifests, "apply", "-n", "export-a", "-f", "-")
		return err
	})

	t.Run("YAML applies cleanly into another namespace", func(t *testing.T) {
		exp := exportShop(t, appv1beta1.ExportYAML)
		stream := string(exp.Status.Artifact)
		if exp.Status.ContentType != "application/yaml" || strings.Count(stream, "kind: ") != 4 || strings.Contains(stream, "not-the-shop") {
			t.Fatalf("YAML export (%s):\n%s", exp.Status.ContentType, stream)
		}
		for _, cluster := range []string{"uid:", "resourceVersion", "clusterIP", "namespace: export-a", "managedFields", "status:"} {
			if strings.Contains(stream, cluster) {
				t.Errorf("the export keeps %q:\n%s", cluster, stream)
			}
		}
		adminKubectl(t, stream, "apply", "-n", "export-b", "-f", "-")
		for _, object := range []string{"configmap/shop-config", "service/shop", "deployment/shop", "ingress/shop"} {
			adminKubectl(t, "", "get", "-n", "export-b", object)
		}
	})

	t.Run("Kustomize builds", func(t *testing.T) {
		exp := exportShop(t, appv1beta1.ExportKustomize)
		dir := t.TempDir()
		gz, err := gzip.NewReader(bytes.NewReader(exp.Status.Artifact))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			header, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			path := filepath.Join(dir, filepath.FromSlash(header.Name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		built := adminKubectl(t, "", "kustomize", filepath.Join(dir, "shop"))
		if strings.Count(built, "kind: ") != 4 {
			t.Errorf("kubectl kustomize:\n%s", built)
		}
		adminKubectl(t, "", "apply", "-n", "export-c", "-k", filepath.Join(dir, "shop"))
	})

	t.Run("a revision exports what its history recorded", func(t *testing.T) {
		// Written as archon writes histories: nobody else may.
		adminKubectl(t, `
apiVersion: app.k8s.io/v1beta1
kind: ApplicationHistory
metadata: {name: shop-1, namespace: export-a}
spec:
  applicationName: shop
  revision: 1
  yaml: |
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: shop-config, namespace: export-a, uid: abc, resourceVersion: "5"}
    data: {greeting: hello from revision 1}
`, "apply", "-f", "-", "--as="+archonIdentity)
		revision := int64(1)
		exp, err := archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-r1"},
			Spec:       appv1beta1.ApplicationExportSpec{Application: "shop", Format: appv1beta1.ExportYAML, Revision: &revision},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stream := string(exp.Status.Artifact)
		if !strings.Contains(stream, "hello from revision 1") || strings.Contains(stream, "uid") || strings.Count(stream, "kind: ") != 1 {
			t.Errorf("revision 1:\n%s", stream)
		}
		revision = 7
		_, err = archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
			ObjectMeta: metav1.ObjectMeta{Name: "shop-r7"},
			Spec:       appv1beta1.ApplicationExportSpec{Application: "shop", Format: appv1beta1.ExportYAML, Revision: &revision},
		}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("a revision without history: %v", err)
		}
	})

	t.Run("a Helm chart lints, installs into another namespace and goes to a Local repository", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{
			"README.md": "# Shop\n\nThe shop, exported.\n",
			"NOTES.txt": "The shop runs in {{ .Release.Namespace }}.\n",
			"icon.png":  "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		adminKubectl(t, "apiVersion: app.alauda.io/v1beta1\nkind: ChartRepo\nmetadata: {name: exports, namespace: export-a}\nspec: {type: Local}\n", "apply", "-f", "-")
		chart := filepath.Join(dir, "shop-v1.2.0.tgz")
		if _, err := kubectlACP(t, plane.KubeconfigPath, t.TempDir(), "export", "application", "shop", "-n", "export-a", "--format", "HelmChart",
			"--chart-version", "v1.2.0", "--readme-file", filepath.Join(dir, "README.md"), "--notes-file", filepath.Join(dir, "NOTES.txt"),
			"--icon-file", filepath.Join(dir, "icon.png"), "--to-repo", "exports", "-o", chart); err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		if out, err := helm(t, home, "lint", chart); err != nil {
			t.Errorf("helm lint: %v\n%s", err, out)
		}
		out, err := helm(t, home, "show", "all", chart)
		if err != nil || !strings.Contains(out, "version: v1.2.0") || !strings.Contains(out, "The shop, exported.") {
			t.Errorf("helm show all: %v\n%s", err, out)
		}
		out, err = helm(t, home, "install", "shop", chart, "-n", "export-d", "--create-namespace", "--kubeconfig", plane.KubeconfigPath)
		if err != nil || !strings.Contains(out, "The shop runs in export-d.") {
			t.Fatalf("helm install: %v\n%s", err, out)
		}
		for _, object := range []string{"configmap/shop-config", "service/shop", "deployment/shop", "ingress/shop", "applications.app.k8s.io/shop"} {
			adminKubectl(t, "", "get", "-n", "export-d", object)
		}
		if out := adminKubectl(t, "", "get", "charts", "-n", "export-a", "shop.exports"); !strings.Contains(out, "v1.2.0") {
			t.Errorf("the chart in the Local repository:\n%s", out)
		}

		// A server-side dry run checks the publication and stores nothing.
		_, err = archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"},
			Spec: appv1beta1.ApplicationExportSpec{Application: "shop", Format: appv1beta1.ExportHelmChart,
				Chart:  &appv1beta1.ExportChart{Version: "v1.4.0"},
				Target: &appv1beta1.ExportTarget{ChartRepo: &appv1beta1.ChartRepoReference{Name: "exports"}}},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatal(err)
		}
		if out := adminKubectl(t, "", "get", "chart", "shop.exports", "-n", "export-a", "-o", "jsonpath={.status.versions[*].version}"); strings.Contains(out, "v1.4.0") {
			t.Errorf("a dry run published: %s", out)
		}

		viewer := serviceAccountUser(t, "export-a", "viewer")
		bindRole(t, "export-a", "viewer", "acp:viewer", "export-a", "viewer")
		_, err = kubectlACP(t, tokenKubeconfig(t, viewer), t.TempDir(), "export", "application", "shop", "-n", "export-a", "--format", "HelmChart",
			"--chart-version", "v1.3.0", "--to-repo", "exports", "-o", filepath.Join(dir, "other.tgz"))
		if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "chartrepos") {
			t.Errorf("a viewer publishes to the repository: %v", err)
		}
	})

	t.Run("bad requests name the field", func(t *testing.T) {
		_, err := archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
			ObjectMeta: metav1.ObjectMeta{Name: "x"},
			Spec: appv1beta1.ApplicationExportSpec{Application: "shop", Format: appv1beta1.ExportHelmChart,
				Chart: &appv1beta1.ExportChart{Version: "1.2.0", Icon: []byte("<svg/>")}},
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.chart.version") || !strings.Contains(err.Error(), "spec.chart.icon") {
			t.Errorf("a bad chart version and icon: %v", err)
		}
		_, err = archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a").Create(testContext(t), &appv1beta1.ApplicationExport{
			ObjectMeta: metav1.ObjectMeta{Name: "x"},
			Spec:       appv1beta1.ApplicationExportSpec{Application: "no-such-app", Format: appv1beta1.ExportYAML},
		}, metav1.CreateOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("unknown application: %v", err)
		}
	})

	t.Run("Secret values stay home unless asked for", func(t *testing.T) {
		adminKubectl(t, `
apiVersion: v1
kind: Secret
metadata: {name: vault-db, labels: {app.kubernetes.io/name: vault}}
stringData: {password: hunter2-e2e}
---
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: vault}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: vault}}
  componentKinds: [{group: "", kind: Secret}]
`, "apply", "-n", "export-a", "-f", "-")
		exports := archonClient(t, adminConfig(t)).AppV1beta1().ApplicationExports("export-a")
		spec := appv1beta1.ApplicationExportSpec{Application: "vault", Format: appv1beta1.ExportYAML}
		exp, err := exports.Create(testContext(t), &appv1beta1.ApplicationExport{ObjectMeta: metav1.ObjectMeta{GenerateName: "vault-"}, Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		encoded := base64.StdEncoding.EncodeToString([]byte("hunter2-e2e"))
		if text := string(exp.Status.Artifact); strings.Contains(text, encoded) || strings.Contains(text, "hunter2-e2e") || !strings.Contains(text, "app.alauda.io/secret-data") {
			t.Errorf("an export without Secret data:\n%s", text)
		}
		spec.IncludeSecretData = true
		if exp, err = exports.Create(testContext(t), &appv1beta1.ApplicationExport{ObjectMeta: metav1.ObjectMeta{GenerateName: "vault-"}, Spec: spec}, metav1.CreateOptions{}); err != nil || !strings.Contains(string(exp.Status.Artifact), encoded) {
			t.Errorf("an export asking for Secret data: %v", err)
		}
		spec.Format = appv1beta1.ExportHelmChart
		spec.Target = &appv1beta1.ExportTarget{ChartRepo: &appv1beta1.ChartRepoReference{Name: "exports"}}
		_, err = exports.Create(testContext(t), &appv1beta1.ApplicationExport{ObjectMeta: metav1.ObjectMeta{GenerateName: "vault-"}, Spec: spec}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.target") {
			t.Errorf("publishing a chart with Secret data: %v, want 422 on spec.target", err)
		}
	})
}
