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
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/acp-archon/archon/pkg/application"
)

func TestApplicationStatusFollowsItsComponents(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	apps := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.Resource)
	const namespace = "apps-status"
	createNamespaces(t, namespace)
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop, namespace: apps-status}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: core, kind: Service}
  - {group: apps, kind: Deployment}
  - {group: example.com, kind: Widget}
`, "create", "-f", "-")
		return err
	})
	waitForApplication(t, apps.Namespace(namespace), "shop", application.PhaseNoComputingComponents, "0/0")

	labels := map[string]string{"app.kubernetes.io/name": "shop"}
	if _, err := kube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createWorkload(ctx, t, kube, namespace, "shop", labels, 2)
	waitForDeployment(ctx, t, kube, namespace, "shop", 2)
	// Watch-driven: the Deployment being available shows at once.
	status := waitForApplicationWithin(t, 3*time.Second, apps.Namespace(namespace), "shop", application.PhaseRunning, "2/2")
	ready := findCondition(t, status, application.ConditionReady)
	if ready["status"] != "True" || !strings.Contains(fmt.Sprint(ready["message"]), "Widget.example.com") {
		t.Errorf("Ready condition %v: want True, naming the kind archon does not track", ready)
	}
	components, _, _ := unstructured.NestedSlice(status, "components")
	if len(components) != 2 {
		t.Fatalf("components %v, want the Deployment and the Service", components)
	}
	if c := components[0].(map[string]any); c["kind"] != "Deployment" || c["name"] != "shop" || c["ready"] != true || c["state"] != application.StateRunning {
		t.Errorf("first component %v", c)
	}
	table := adminKubectl(t, "", "get", "applications", "-n", namespace)
	if !strings.Contains(table, "2/2") {
		t.Errorf("kubectl get applications shows no READY 2/2:\n%s", table)
	}

	// Stopped through the scale subresource: every computing component is.
	if _, err := kube.AppsV1().Deployments(namespace).UpdateScale(ctx, "shop", &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 0},
	}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForApplication(t, apps.Namespace(namespace), "shop", application.PhaseStopped, "1/2")

	// A second Deployment running while the first is stopped.
	createWorkload(ctx, t, kube, namespace, "worker", labels, 1)
	waitForApplication(t, apps.Namespace(namespace), "shop", application.PhasePartiallyRunning, "2/3")

	// Components leave with their label.
	if _, err := kube.CoreV1().Services(namespace).Patch(ctx, "shop", "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"app.kubernetes.io/name":null}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForApplication(t, apps.Namespace(namespace), "shop", application.PhasePartiallyRunning, "1/2")
}

func createWorkload(ctx context.Context, t *testing.T, kube kubernetes.Interface, namespace, name string, labels map[string]string, replicas int32) {
	t.Helper()
	podLabels := map[string]string{"workload": name}
	if _, err := kube.AppsV1().Deployments(namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.invalid/" + name + ":1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitForApplication waits until an application's status has phase and
// componentsReady, and returns the status.
func waitForApplication(t *testing.T, apps dynamic.ResourceInterface, name, phase, ready string) map[string]any {
	t.Helper()
	return waitForApplicationWithin(t, 30*time.Second, apps, name, phase, ready)
}

func waitForApplicationWithin(t *testing.T, timeout time.Duration, apps dynamic.ResourceInterface, name, phase, ready string) map[string]any {
	t.Helper()
	var status map[string]any
	eventuallyWithin(t, timeout, fmt.Sprintf("application %s %s with %s ready", name, phase, ready), func() error {
		app, err := apps.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		status, _, _ = unstructured.NestedMap(app.Object, "status")
		if status["phase"] != phase || status["componentsReady"] != ready {
			return fmt.Errorf("status phase %v, componentsReady %v", status["phase"], status["componentsReady"])
		}
		return nil
	})
	return status
}

func findCondition(t *testing.T, status map[string]any, kind string) map[string]any {
	t.Helper()
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	for _, c := range conditions {
		if condition, ok := c.(map[string]any); ok && condition["type"] == kind {
			return condition
		}
	}
	t.Fatalf("no %s condition in %v", kind, conditions)
	return nil
}
