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
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
)

func TestApplicationRollback(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	const namespace = "apps-rollback"
	createNamespaces(t, namespace)
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=rollback-dev", "-n", namespace)
	dev := clientAs(t, "rollback-dev").AppV1beta1()
	histories := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.HistoryResource).Namespace(namespace)
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop, namespace: apps-rollback}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: core, kind: ConfigMap}
  - {group: apps, kind: Deployment}
`, "create", "-f", "-")
		return err
	})
	labels := map[string]string{"app.kubernetes.io/name": "shop"}
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Labels: labels}, Data: map[string]string{"color": "blue"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createWorkload(ctx, t, kube, namespace, "web", labels, 2)
	snapshot := func(name string) {
		t.Helper()
		var err error
		eventually(t, "a snapshot", func() error {
			_, err = dev.ApplicationSnapshots(namespace).Create(ctx, &appv1beta1.ApplicationSnapshot{
				ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "shop"},
			}, metav1.CreateOptions{})
			return err
		})
	}
	snapshot("first")

	// The application changes: a value, the replicas, a new component.
	setColor := func(color string) {
		t.Helper()
		if _, err := kube.CoreV1().ConfigMaps(namespace).Patch(ctx, "settings", "application/merge-patch+json",
			[]byte(`{"data":{"color":"`+color+`"}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	color := func() string {
		t.Helper()
		cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "settings", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Data["color"]
	}
	setColor("green")
	if _, err := kube.AppsV1().Deployments(namespace).Patch(ctx, "web", "application/merge-patch+json",
		[]byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "extra", Labels: labels},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snapshot("second")

	// A dry run says what it would do and does nothing.
	dry, err := dev.ApplicationRollbacks(namespace).Create(ctx, &appv1beta1.ApplicationRollback{
		ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Spec: appv1beta1.ApplicationRollbackSpec{Application: "shop", Revision: 1},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatal(err)
	}
	if refs(dry.Status.Deleted) != "ConfigMap/extra" || !strings.Contains(refs(dry.Status.Applied), "ConfigMap/settings") || dry.Status.Revision != 0 {
		t.Errorf("dry run: %+v", dry.Status)
	}
	if color() != "green" {
		t.Error("a dry run rolled back")
	}

	rolled, err := dev.ApplicationRollbacks(namespace).Create(ctx, &appv1beta1.ApplicationRollback{
		ObjectMeta: metav1.ObjectMeta{Name: "back"}, Spec: appv1beta1.ApplicationRollbackSpec{Application: "shop", Revision: 1},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if color() != "blue" {
		t.Errorf("after the rollback the color is %s, want blue", color())
	}
	if d, err := kube.AppsV1().Deployments(namespace).Get(ctx, "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment after the rollback: %v %v", err, d.Spec.Replicas)
	}
	if _, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the component created after revision 1 is still there: %v", err)
	}
	if rolled.Status.Revision != 3 {
		t.Fatalf("the rollback recorded %+v, want revision 3", rolled.Status)
	}
	history, err := histories.Get(ctx, rolled.Status.History, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(history.Object, "spec")
	if spec["user"] != "rollback-dev" || spec["changeCause"] != "rollback to revision 1" {
		t.Errorf("the rollback's revision: %v", spec)
	}

	// Revisions that are not recorded are named, with those that are.
	_, err = dev.ApplicationRollbacks(namespace).Create(ctx, &appv1beta1.ApplicationRollback{
		ObjectMeta: metav1.ObjectMeta{Name: "nowhere"}, Spec: appv1beta1.ApplicationRollbackSpec{Application: "shop", Revision: 9},
	}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "no revision 9") || !strings.Contains(err.Error(), "1, 2, 3") {
		t.Errorf("a rollback to a revision never recorded: %v", err)
	}

	// Someone who may roll back but not write ConfigMaps is refused, the
	// refusal naming the object, and nothing changes.
	setColor("red")
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "apps-rollback-reader"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"app.alauda.io"}, Resources: []string{"applicationrollbacks"}, Verbs: []string{"create"}},
			{APIGroups: []string{"app.k8s.io"}, Resources: []string{"applications", "applicationhistories"}, Verbs: []string{"get", "list", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "patch"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), "apps-rollback-reader", metav1.DeleteOptions{})
	})
	adminKubectl(t, "", "create", "rolebinding", "reader", "--clusterrole=apps-rollback-reader", "--user=rollback-reader", "-n", namespace)
	var refused error
	eventually(t, "the reader's rights in force", func() error {
		_, refused = clientAs(t, "rollback-reader").AppV1beta1().ApplicationRollbacks(namespace).Create(ctx, &appv1beta1.ApplicationRollback{
			ObjectMeta: metav1.ObjectMeta{Name: "refused"}, Spec: appv1beta1.ApplicationRollbackSpec{Application: "shop", Revision: 2},
		}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(refused) || !strings.Contains(refused.Error(), "configmaps") {
			return refused
		}
		return nil
	})
	if color() != "red" {
		t.Errorf("a refused rollback changed the application: color %s", color())
	}
}
