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
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
)

func TestApplicationStopAndStart(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	const namespace = "apps-scale"
	createNamespaces(t, namespace)
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=scale-dev", "-n", namespace)
	apps := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.Resource).Namespace(namespace)
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop, namespace: apps-scale}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: apps, kind: Deployment}
`, "create", "-f", "-")
		return err
	})
	labels := map[string]string{"app.kubernetes.io/name": "shop"}
	createWorkload(ctx, t, kube, namespace, "web", labels, 3)
	createWorkload(ctx, t, kube, namespace, "worker", labels, 1)
	waitForApplication(t, apps, "shop", application.PhaseRunning, "2/2")

	dev := clientAs(t, "scale-dev").AppV1beta1()
	spec := appv1beta1.ApplicationOperationSpec{Application: "shop", ChangeCause: "night"}

	// A dry run changes nothing.
	var dry *appv1beta1.ApplicationStop
	eventually(t, "developers may stop applications", func() (err error) {
		dry, err = dev.ApplicationStops(namespace).Create(ctx, &appv1beta1.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Spec: spec},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
	if got := scaledWorkloads(dry.Status.Workloads); got != "Deployment/web 3->0,Deployment/worker 1->0" || dry.Status.Revision != 0 {
		t.Errorf("dry run: %s, revision %d", got, dry.Status.Revision)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "2/2")

	stop, err := dev.ApplicationStops(namespace).Create(ctx, &appv1beta1.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "night"}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stop.Status.Revision != 1 || stop.Status.History != "shop-1" {
		t.Errorf("stop recorded %+v", stop.Status)
	}
	waitForApplication(t, apps, "shop", application.PhaseStopped, "0/2")
	for name, want := range map[string]int32{"web": 0, "worker": 0} {
		if d, err := kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil || *d.Spec.Replicas != want {
			t.Errorf("Deployment %s after the stop: %v, %v", name, err, d)
		}
	}
	// Stopping again keeps what the first stop remembered.
	if _, err := dev.ApplicationStops(namespace).Create(ctx, &appv1beta1.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "again"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	start, err := dev.ApplicationStarts(namespace).Create(ctx, &appv1beta1.ApplicationStart{ObjectMeta: metav1.ObjectMeta{Name: "morning"},
		Spec: appv1beta1.ApplicationOperationSpec{Application: "shop"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := scaledWorkloads(start.Status.Workloads); got != "Deployment/web 0->3,Deployment/worker 0->1" {
		t.Errorf("start scaled %s", got)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "2/2")
	app, err := apps.Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, remembered := app.GetAnnotations()[application.StoppedReplicasAnnotation]; remembered {
		t.Error("the started application still remembers replicas")
	}

	// Someone who may stop applications but not scale their workloads is
	// refused, naming the workload and the right, and nothing changes.
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "apps-scale-stopper"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"app.alauda.io"}, Resources: []string{"applicationstops"}, Verbs: []string{"create"}},
			{APIGroups: []string{"app.k8s.io"}, Resources: []string{"applications"}, Verbs: []string{"get", "patch"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"}, Verbs: []string{"get", "list"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), "apps-scale-stopper", metav1.DeleteOptions{})
	})
	adminKubectl(t, "", "create", "rolebinding", "stopper", "--clusterrole=apps-scale-stopper", "--user=scale-stopper", "-n", namespace)
	var refused error
	eventually(t, "the stopper's rights in force", func() error {
		_, refused = clientAs(t, "scale-stopper").AppV1beta1().ApplicationStops(namespace).Create(ctx,
			&appv1beta1.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "refused"}, Spec: spec}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(refused) || !strings.Contains(refused.Error(), "deployments/scale") {
			return refused
		}
		return nil
	})
	if !strings.Contains(refused.Error(), "scale-stopper") {
		t.Errorf("the refusal does not say who lacks the right: %v", refused)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "2/2")
	app, err = apps.Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, remembered := app.GetAnnotations()[application.StoppedReplicasAnnotation]; remembered {
		t.Error("a refused stop left the application remembering replicas")
	}

	// A viewer may not stop at all.
	adminKubectl(t, "", "create", "rolebinding", "viewer", "--clusterrole=acp:viewer", "--user=scale-viewer", "-n", namespace)
	_, err = clientAs(t, "scale-viewer").AppV1beta1().ApplicationStops(namespace).Create(ctx,
		&appv1beta1.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}, Spec: spec}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a viewer's stop: %v, want 403", err)
	}
}

// scaledWorkloads prints scaled workloads as Kind/name from->to.
func scaledWorkloads(workloads []appv1beta1.WorkloadScale) string {
	var out []string
	for _, w := range workloads {
		out = append(out, fmt.Sprintf("%s/%s %d->%d", w.Kind, w.Name, w.From, w.To))
	}
	return strings.Join(out, ",")
}
