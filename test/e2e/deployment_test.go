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
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// TestDeploymentBecomesAvailable shows that the local plane runs workloads:
// the scheduler binds a Deployment's pods to the simulated nodes, kwok
// reports them Running and Ready, the Deployment becomes available, and
// scaling down removes pods.
func TestDeploymentBecomesAvailable(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	const namespace = "workloads"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web",
					// Never pulled: no container runtime runs it.
					Image: "registry.invalid/web:1",
				}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(namespace).Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	waitForDeployment(ctx, t, kube, namespace, "web", 3)
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("%d pods, want 3", len(pods.Items))
	}
	for _, pod := range pods.Items {
		node, err := kube.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: node %q: %v", pod.Name, pod.Spec.NodeName, err)
		}
		if node.Annotations["kwok.x-k8s.io/node"] != "fake" {
			t.Errorf("pod %s runs on %s, which is not a simulated node", pod.Name, node.Name)
		}
		if pod.Status.Phase != corev1.PodRunning || !podReady(&pod) {
			t.Errorf("pod %s: phase %s, ready %t; want Running and Ready", pod.Name, pod.Status.Phase, podReady(&pod))
		}
		// Nothing may reach a simulated pod, but its node is on loopback.
		if pod.Status.HostIP != "127.0.0.1" {
			t.Errorf("pod %s: host IP %q, want 127.0.0.1", pod.Name, pod.Status.HostIP)
		}
	}

	// Scaling down deletes pods; with no kubelet to confirm their end,
	// kwok removes them.
	scale, err := kube.AppsV1().Deployments(namespace).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	if _, err := kube.AppsV1().Deployments(namespace).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForDeployment(ctx, t, kube, namespace, "web", 1)
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == 1, nil
	})
	if err != nil {
		t.Fatalf("waiting for the pods of the scaled-down Deployment to go: %v", err)
	}
}

// waitForDeployment waits until the Deployment's current generation has
// rolled out with replicas available pods and no others.
func waitForDeployment(ctx context.Context, t *testing.T, kube kubernetes.Interface, namespace, name string, replicas int32) {
	t.Helper()
	var last string
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := d.Status
		last = fmt.Sprintf("generation %d observed %d, replicas %d, updated %d, ready %d, available %d",
			d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
		return s.ObservedGeneration == d.Generation && s.Replicas == replicas &&
			s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s/%s never had %d available replicas (%s): %v", namespace, name, replicas, last, err)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
