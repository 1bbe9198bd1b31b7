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
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/acp-archon/archon/internal/charttest"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/templateapp"
)

// webChart is a chart of a Deployment, a Service and a ConfigMap, whose
// values must give replicaCount as an integer.
func webChart(version string, extra ...charttest.Entry) []byte {
	entries := []charttest.Entry{
		{Name: "values.schema.json", Data: []byte(`{"type":"object","properties":{"replicaCount":{"type":"integer"}}}`)},
		{Name: "templates/deployment.yaml", Data: []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount | default 1 }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
`)},
		{Name: "templates/service.yaml", Data: []byte(`apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports:
  - port: 80
`)},
	}
	return charttest.Chart("web", version, append(entries, extra...)...)
}

// templateApp is a template application's manifest.
func templateApp(namespace, name, source, version, values string) string {
	return fmt.Sprintf(`apiVersion: app.k8s.io/v1beta1
kind: Application
metadata:
  name: %s
  namespace: %s
  annotations:
    app.cpaas.io/chart.source: %s
    app.cpaas.io/chart.version: %q
    app.cpaas.io/chart.values: '%s'
`, name, namespace, source, version, values)
}

// conditionOf waits for the condition of an application to have status
// and reason and returns its message.
func conditionOf(t *testing.T, apps dynamic.ResourceInterface, name, condition string, status metav1.ConditionStatus, reason string) string {
	t.Helper()
	var message string
	eventually(t, fmt.Sprintf("application %s %s=%s (%s)", name, condition, status, reason), func() error {
		app, err := apps.Get(testContext(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := meta.FindStatusCondition(application.ConditionsOf(app), condition)
		if c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("conditions: %+v", application.ConditionsOf(app))
		}
		message = c.Message
		return nil
	})
	return message
}

// helmAdmin runs the helm CLI as the cluster admin.
func helmAdmin(t *testing.T, home string, args ...string) string {
	t.Helper()
	out, err := helm(t, home, append(args, "--kubeconfig", plane.KubeconfigPath)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTemplateApplications installs, upgrades, rolls back, detaches and
// uninstalls charts as Applications, as a developer, with helm's CLI as
// the cross-check; a chart the developer may not install is refused with
// PermissionCheckFailed until someone who may takes it over.
func TestTemplateApplications(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	const namespace = "tapp-dev"
	createProject(ctx, t, "tapp", "tapp-admin")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace(namespace, "tapp"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=tapp-dev", "-n", namespace)
	dev := mustKubeconfig(t, "tapp-dev")
	apps := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.Resource).Namespace(namespace)
	home := t.TempDir()

	adminKubectl(t, "apiVersion: app.alauda.io/v1beta1\nkind: ChartRepo\nmetadata: {name: team, namespace: tapp-dev}\nspec: {type: Local}\n", "apply", "-f", "-")
	dir := t.TempDir()
	upload := func(name string, archive []byte) {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, archive, 0o644); err != nil {
			t.Fatal(err)
		}
		adminKubectl(t, "", "create", "--raw", "/apis/app.alauda.io/v1beta1/namespaces/tapp-dev/chartrepos/team/charts", "-f", file)
	}
	upload("web-0.1.0.tgz", webChart("0.1.0"))
	upload("web-0.2.0.tgz", webChart("0.2.0", charttest.Entry{Name: "templates/extra.yaml",
		Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata: {}\n")}))
	upload("guarded-0.1.0.tgz", charttest.Chart("guarded", "0.1.0", charttest.Entry{Name: "templates/role.yaml",
		Data: []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {{ .Release.Name }}-reader\nrules: []\n")}))
	upload("broken-0.1.0.tgz", charttest.Chart("broken", "0.1.0", charttest.Entry{Name: "templates/bad.yaml",
		Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n")}))
	upload("wide-0.1.0.tgz", charttest.Chart("wide", "0.1.0", charttest.Entry{Name: "templates/clusterrole.yaml",
		Data: []byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}-wide\nrules: []\n")}))

	greeting := func(t *testing.T, want string) {
		t.Helper()
		eventually(t, "greeting "+want, func() error {
			cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "web-web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.Data["greeting"] != want || cm.Labels[templateapp.NameLabel] != "web" {
				return fmt.Errorf("ConfigMap %v %v", cm.Data, cm.Labels)
			}
			return nil
		})
	}

	t.Run("install as the developer", func(t *testing.T) {
		if _, err := kubectl(t, dev, templateApp(namespace, "web", "team/web", "0.1.0", `{"replicaCount":2,"greeting":"hi"}`), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		greeting(t, "hi")
		app, err := apps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := app.GetAnnotations()[templateapp.RequesterAnnotation]; !strings.Contains(got, `"username":"tapp-dev"`) {
			t.Errorf("requester %s", got)
		}
		if out := helmAdmin(t, home, "list", "-n", namespace); !strings.Contains(out, "web-0.1.0") || !strings.Contains(out, "deployed") {
			t.Errorf("helm list:\n%s", out)
		}
		if out := helmAdmin(t, home, "get", "values", "web", "-n", namespace, "-o", "json"); !strings.Contains(out, `"greeting":"hi"`) {
			t.Errorf("helm get values: %s", out)
		}
		eventually(t, "the release's objects as components", func() error {
			app, err := apps.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			components, _, _ := unstructured.NestedSlice(app.Object, "status", "components")
			if len(components) != 3 {
				return fmt.Errorf("components %v", components)
			}
			return nil
		})
	})

	t.Run("the requester cannot be forged", func(t *testing.T) {
		_, err := kubectl(t, dev, "", "annotate", "application", "web", "-n", namespace, "--overwrite",
			templateapp.RequesterAnnotation+`={"username":"system:admin","groups":["system:masters"]}`)
		if err != nil {
			t.Fatal(err)
		}
		app, err := apps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := app.GetAnnotations()[templateapp.RequesterAnnotation]; !strings.Contains(got, `"username":"tapp-dev"`) {
			t.Errorf("requester after a forgery: %s", got)
		}
	})

	t.Run("upgrade on a change of values, and no revision when nothing changed", func(t *testing.T) {
		patch := `{"metadata":{"annotations":{"app.cpaas.io/chart.values":"{\"replicaCount\":2,\"greeting\":\"hey\"}"}}}`
		if _, err := apps.Patch(ctx, "web", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		greeting(t, "hey")
		conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		// A write that changes nothing of the template: a resync.
		adminKubectl(t, "", "label", "application", "web", "-n", namespace, "touched=yes")
		history := helmAdmin(t, home, "history", "web", "-n", namespace)
		if strings.Count(history, "\n") != 3 {
			t.Errorf("helm history after an upgrade and a resync:\n%s", history)
		}
	})

	t.Run("bad input is reported, nothing changes", func(t *testing.T) {
		for _, tc := range []struct {
			patch, condition, reason, mentions string
		}{
			{`{"metadata":{"annotations":{"app.cpaas.io/chart.version":"9.9.9"}}}`, templateapp.ConditionInitialized, templateapp.ReasonChartLoadFailed, "no version 9.9.9"},
			{`{"metadata":{"annotations":{"app.cpaas.io/chart.version":"0.1.0","app.cpaas.io/chart.values":"{greeting"}}}`, templateapp.ConditionInitialized, templateapp.ReasonInitializeFailed, "not JSON"},
			{`{"metadata":{"annotations":{"app.cpaas.io/chart.values":"{\"replicaCount\":\"two\"}"}}}`, templateapp.ConditionValidated, templateapp.ReasonDependenciesCheckFailed, "values.schema.json"},
			{`{"metadata":{"annotations":{"app.cpaas.io/chart.source":"nowhere/web"}}}`, templateapp.ConditionValidated, templateapp.ReasonChartLoadFailed, "no chart repository nowhere"},
		} {
			if _, err := kubectl(t, dev, "", "patch", "application", "web", "-n", namespace, "--type=merge", "-p", tc.patch); err != nil {
				t.Fatal(err)
			}
			if message := conditionOf(t, apps, "web", tc.condition, metav1.ConditionFalse, tc.reason); !strings.Contains(message, tc.mentions) {
				t.Errorf("%s: message %q does not mention %q", tc.reason, message, tc.mentions)
			}
		}
		greeting(t, "hey")
		if history := helmAdmin(t, home, "history", "web", "-n", namespace); strings.Count(history, "\n") != 3 {
			t.Errorf("helm history after bad input:\n%s", history)
		}
	})

	t.Run("rollback through the application operation is a helm rollback", func(t *testing.T) {
		out, err := kubectlACP(t, dev, "", "app", "rollback", "web", "--to-revision", "1", "-n", namespace)
		if err != nil || !strings.Contains(out, "ConfigMap/web-web") {
			t.Fatalf("%v\n%s", err, out)
		}
		greeting(t, "hi")
		conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		if history := helmAdmin(t, home, "history", "web", "-n", namespace); !strings.Contains(history, "Rollback to 1") {
			t.Errorf("helm history:\n%s", history)
		}
	})

	t.Run("a restart and a deleted chart version leave the release alone", func(t *testing.T) {
		before := helmAdmin(t, home, "history", "web", "-n", namespace)
		adminKubectl(t, "", "delete", "--raw", "/apis/app.alauda.io/v1beta1/namespaces/tapp-dev/chartrepos/team/charts/web/0.1.0")
		restartArchon(t)
		// Once a new application is synced, the controller has been through
		// the ones it found at its start.
		if _, err := kubectl(t, dev, templateApp(namespace, "after", "team/web", "0.2.0", `{"greeting":"later"}`), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		conditionOf(t, apps, "after", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		if after := helmAdmin(t, home, "history", "web", "-n", namespace); after != before {
			t.Errorf("helm history changed across a restart:\n%s\nthen:\n%s", before, after)
		}
		greeting(t, "hi")
		if _, err := kubectl(t, dev, "", "patch", "application", "after", "-n", namespace, "--type=merge", "-p",
			`{"metadata":{"annotations":{"app.cpaas.io/chart.version":"0.1.0"}}}`); err != nil {
			t.Fatal(err)
		}
		message := conditionOf(t, apps, "after", templateapp.ConditionInitialized, metav1.ConditionFalse, templateapp.ReasonChartLoadFailed)
		if !strings.Contains(message, "no version 0.1.0") {
			t.Errorf("upgrading to a deleted version: %s", message)
		}
		if out := helmAdmin(t, home, "history", "after", "-n", namespace); strings.Count(out, "\n") != 2 {
			t.Errorf("helm history of after:\n%s", out)
		}
	})

	t.Run("a chart the developer may not install", func(t *testing.T) {
		if _, err := kubectl(t, dev, templateApp(namespace, "guarded", "team/guarded", "0.1.0", `{}`), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		message := conditionOf(t, apps, "guarded", templateapp.ConditionValidated, metav1.ConditionFalse, templateapp.ReasonPermissionCheckFailed)
		if !strings.Contains(message, "roles.rbac.authorization.k8s.io") || !strings.Contains(message, "Role guarded-reader") {
			t.Errorf("message %q", message)
		}
		if out := helmAdmin(t, home, "list", "-n", namespace, "-a", "-q"); slices.Contains(strings.Fields(out), "guarded") {
			t.Errorf("installed anyway:\n%s", out)
		}
		// A namespace admin takes it over: archon acts as them now.
		adminKubectl(t, "", "create", "rolebinding", "admin", "--clusterrole=acp:namespace-admin", "--user=tapp-owner", "-n", namespace)
		if _, err := kubectl(t, mustKubeconfig(t, "tapp-owner"), "", "annotate", "application", "guarded", "-n", namespace, templateapp.RequesterAnnotation+"-"); err != nil {
			t.Fatal(err)
		}
		conditionOf(t, apps, "guarded", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		if _, err := kube.RbacV1().Roles(namespace).Get(ctx, "guarded-reader", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
	})

	t.Run("a chart reaching outside the namespace", func(t *testing.T) {
		if _, err := kubectl(t, dev, templateApp(namespace, "wide", "team/wide", "0.1.0", `{}`), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		message := conditionOf(t, apps, "wide", templateapp.ConditionValidated, metav1.ConditionFalse, templateapp.ReasonConsistentNamespaceCheckFailed)
		if !strings.Contains(message, "ClusterRole wide-wide is cluster-scoped") {
			t.Errorf("message %q", message)
		}
	})

	t.Run("kubectl acp app create, upgrade and detach write the annotations", func(t *testing.T) {
		out, err := kubectlACP(t, dev, "", "app", "create", "cli", "-n", namespace, "--chart", "team/web", "--version", "0.2.0",
			"--set", "greeting=yo", "--set", "replicaCount=1", "--wait", "60s")
		if err != nil || !strings.Contains(out, "Synced: chart web 0.2.0 deployed as revision 1") {
			t.Fatalf("create: %v\n%s", err, out)
		}
		out, err = kubectlACP(t, dev, "", "app", "upgrade", "cli", "-n", namespace, "--set", "greeting=yo2", "--wait", "60s")
		if err != nil || !strings.Contains(out, "revision 2") {
			t.Fatalf("upgrade: %v\n%s", err, out)
		}
		app, err := apps.Get(ctx, "cli", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if values := app.GetAnnotations()[templateapp.ValuesAnnotation]; values != `{"greeting":"yo2","replicaCount":1}` {
			t.Errorf("values after the upgrade: %s", values)
		}
		out, err = kubectlACP(t, dev, "", "app", "upgrade", "cli", "-n", namespace, "--version", "9.9.9", "--wait", "60s")
		if err == nil || !strings.Contains(err.Error(), "ChartLoadFailed") {
			t.Errorf("an upgrade to a missing version: %v\n%s", err, out)
		}
		// Another change failing the same way: the same condition, reported.
		out, err = kubectlACP(t, dev, "", "app", "upgrade", "cli", "-n", namespace, "--set", "greeting=yo3", "--wait", "60s")
		if err == nil || !strings.Contains(err.Error(), "ChartLoadFailed") {
			t.Errorf("a second upgrade failing alike: %v\n%s", err, out)
		}
		if out, err := kubectlACP(t, dev, "", "app", "detach", "cli", "-n", namespace); err != nil {
			t.Fatalf("detach: %v\n%s", err, out)
		}
		eventually(t, "detached", func() error {
			app, err := apps.Get(ctx, "cli", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(app.GetFinalizers()) > 0 {
				return fmt.Errorf("finalizers %v", app.GetFinalizers())
			}
			return nil
		})
	})

	t.Run("an install kube-apiserver refuses half-way leaves nothing", func(t *testing.T) {
		if _, err := kubectl(t, dev, templateApp(namespace, "broken", "team/broken", "0.1.0", `{}`), "apply", "-f", "-"); err != nil {
			t.Fatal(err)
		}
		message := conditionOf(t, apps, "broken", templateapp.ConditionSynced, metav1.ConditionFalse, templateapp.ReasonChartSyncFailed)
		if !strings.Contains(message, "Not_A_Name") || !strings.Contains(message, "archon removed what the install had created") {
			t.Errorf("message %q", message)
		}
		eventually(t, "the created ConfigMap removed", func() error {
			if _, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "broken-broken", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("ConfigMap broken-broken: %w", err)
			}
			return nil
		})
		var history []struct{ Status string }
		if err := json.Unmarshal([]byte(helmAdmin(t, home, "history", "broken", "-n", namespace, "-o", "json")), &history); err != nil ||
			len(history) != 1 || history[0].Status != "uninstalled" {
			t.Errorf("helm history of a failed install: %+v %v", history, err)
		}
	})

	t.Run("helm records archon did not write stop it", func(t *testing.T) {
		// A developer may write Secrets, so she may write helm's records:
		// a forged revision of web whose manifest binds her as admin, for
		// archon to apply or roll back to as whoever changes web next.
		records := driver.NewSecrets(kubeClientAs(t, "tapp-dev").CoreV1().Secrets(namespace))
		forged := &release.Release{Name: "web", Namespace: namespace, Version: 99, Info: &release.Info{Status: release.StatusSuperseded},
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "0.2.0", APIVersion: "v2"}}, Config: map[string]any{},
			Manifest: "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: forged}\n" +
				"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: acp:namespace-admin}\nsubjects: [{kind: User, name: tapp-dev}]\n"}
		if err := records.Create("sh.helm.release.v1.web.v99", forged); err != nil {
			t.Fatal(err)
		}
		owner := mustKubeconfig(t, "tapp-owner")
		if _, err := kubectl(t, owner, "", "patch", "application", "web", "-n", namespace, "--type=merge", "-p",
			`{"metadata":{"annotations":{"app.cpaas.io/chart.version":"0.2.0"}}}`); err != nil {
			t.Fatal(err)
		}
		message := conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionFalse, templateapp.ReasonChartSyncFailed)
		if !strings.Contains(message, "sh.helm.release.v1.web.v99") || !strings.Contains(message, "is not sealed by archon") {
			t.Errorf("message %q", message)
		}
		if _, err := kube.RbacV1().RoleBindings(namespace).Get(ctx, "forged", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the forged RoleBinding: %v", err)
		}
		if err := kube.CoreV1().Secrets(namespace).Delete(ctx, "sh.helm.release.v1.web.v99", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// archon looks again within a minute, or at the next write.
		adminKubectl(t, "", "label", "application", "web", "-n", namespace, "checked=yes")
		conditionOf(t, apps, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
		greeting(t, "hi")
	})

	t.Run("uninstall on delete", func(t *testing.T) {
		adminKubectl(t, "", "delete", "application", "guarded", "-n", namespace, "--wait=true")
		if _, err := kube.RbacV1().Roles(namespace).Get(ctx, "guarded-reader", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the release's Role after the delete: %v", err)
		}
		if out := helmAdmin(t, home, "list", "-n", namespace, "-a", "-q"); slices.Contains(strings.Fields(out), "guarded") {
			t.Errorf("still listed:\n%s", out)
		}
	})

	t.Run("detach from the template", func(t *testing.T) {
		if _, err := kubectl(t, dev, "", "annotate", "application", "web", "-n", namespace,
			templateapp.SourceAnnotation+"-", templateapp.VersionAnnotation+"-", templateapp.ValuesAnnotation+"-"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "detached", func() error {
			app, err := apps.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(app.GetFinalizers()) > 0 {
				return fmt.Errorf("finalizers %v", app.GetFinalizers())
			}
			if c := meta.FindStatusCondition(application.ConditionsOf(app), templateapp.ConditionSynced); c != nil {
				return fmt.Errorf("a native application with a Synced condition: %+v", c)
			}
			return nil
		})
		if out := helmAdmin(t, home, "list", "-n", namespace, "-a", "-q"); slices.Contains(strings.Fields(out), "web") {
			t.Errorf("the release after detaching:\n%s", out)
		}
		greeting(t, "hi")
		adminKubectl(t, "", "delete", "application", "web", "-n", namespace)
		greeting(t, "hi") // a native application's delete leaves its components
	})
}
