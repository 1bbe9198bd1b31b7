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

package applicationstatus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/utils/ptr"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/controller/applicationstatus"
)

const namespace = "shop"

func newApplication(name string, kinds ...map[string]any) *unstructured.Unstructured {
	componentKinds := make([]any, 0, len(kinds))
	for _, kind := range kinds {
		componentKinds = append(componentKinds, kind)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": namespace, "generation": int64(1)},
		"spec": map[string]any{
			"selector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
			"componentKinds": componentKinds,
		},
	}}
}

func readyDeployment(name, app string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/name": app}},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status:     appsv1.DeploymentStatus{Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
}

type fixture struct {
	kube    *kubefake.Clientset
	dynamic *dynamicfake.FakeDynamicClient
}

// start runs the controller over fakes holding apps, kube objects and the
// metadata of other components.
func start(t *testing.T, apps []runtime.Object, kubeObjects []runtime.Object, metadataObjects ...runtime.Object) fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := fixture{
		kube: kubefake.NewClientset(kubeObjects...),
		dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{application.Resource: "ApplicationList"}, apps...),
	}
	metadataScheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(metadataScheme); err != nil {
		t.Fatal(err)
	}
	metadataClient := metadatafake.NewSimpleMetadataClient(metadataScheme, metadataObjects...)

	applications := dynamicinformer.NewDynamicSharedInformerFactory(f.dynamic, 0)
	workloads := kubeinformers.NewSharedInformerFactory(f.kube, 0)
	components := metadatainformer.NewSharedInformerFactory(metadataClient, 0)
	c, err := applicationstatus.New(f.dynamic, applications, workloads, components)
	if err != nil {
		t.Fatal(err)
	}
	applications.Start(ctx.Done())
	workloads.Start(ctx.Done())
	components.Start(ctx.Done())
	go c.Run(ctx, 2)
	return f
}

// waitForStatus waits until the application's status has phase and
// componentsReady, and returns it.
func (f fixture) waitForStatus(t *testing.T, name, phase, ready string) map[string]any {
	t.Helper()
	var status map[string]any
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		app, err := f.dynamic.Resource(application.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		status, _, _ = unstructured.NestedMap(app.Object, "status")
		return status["phase"] == phase && status["componentsReady"] == ready, nil
	})
	if err != nil {
		t.Fatalf("application %s: status %v, want phase %s with %s ready: %v", name, status, phase, ready, err)
	}
	return status
}

var (
	deployments = map[string]any{"group": "apps", "kind": "Deployment"}
	services    = map[string]any{"group": "core", "kind": "Service"}
)

func TestStatusCountsSelectedComponentsOfNamedKinds(t *testing.T) {
	service := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/name": "web"}},
	}
	otherService := service.DeepCopy()
	otherService.Name, otherService.Labels = "other", map[string]string{"app.kubernetes.io/name": "other"}
	f := start(t,
		[]runtime.Object{newApplication("web", deployments, services), newApplication("empty", services)},
		[]runtime.Object{
			readyDeployment("web", "web", 2),
			readyDeployment("other", "other", 1),
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web-db", Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/name": "web"}}},
		},
		service, otherService)

	status := f.waitForStatus(t, "web", application.PhaseRunning, "2/2")
	components, _, _ := unstructured.NestedSlice(status, "components")
	got := fmt.Sprint(components)
	want := fmt.Sprint([]any{
		map[string]any{"group": "apps", "kind": "Deployment", "name": "web", "ready": true, "state": "Running"},
		map[string]any{"kind": "Service", "name": "web", "ready": true},
	})
	if got != want {
		t.Errorf("components %s, want %s (the StatefulSet is not of a named kind, other objects are not selected)", got, want)
	}
	f.waitForStatus(t, "empty", application.PhaseNoComputingComponents, "0/0")
}

func TestStatusFollowsAWorkload(t *testing.T) {
	f := start(t, []runtime.Object{newApplication("web", deployments)}, []runtime.Object{readyDeployment("web", "web", 2)})
	f.waitForStatus(t, "web", application.PhaseRunning, "1/1")

	ctx := context.Background()
	d, err := f.kube.AppsV1().Deployments(namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas, d.Status.AvailableReplicas = ptr.To[int32](3), 2
	if _, err := f.kube.AppsV1().Deployments(namespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitForStatus(t, "web", application.PhaseProcessing, "0/1")

	d.Spec.Replicas, d.Status = ptr.To[int32](0), appsv1.DeploymentStatus{}
	if _, err := f.kube.AppsV1().Deployments(namespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitForStatus(t, "web", application.PhaseStopped, "0/1")

	if err := f.kube.AppsV1().Deployments(namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitForStatus(t, "web", application.PhaseNoComputingComponents, "0/0")
}

func TestStatusKeepsWhatArchonDoesNotOwn(t *testing.T) {
	app := newApplication("web", deployments)
	app.Object["status"] = map[string]any{
		"installedBy": "someone",
		"conditions":  []any{map[string]any{"type": "Synced", "status": "True", "reason": "Synced", "lastTransitionTime": "2026-01-02T03:04:05Z"}},
	}
	f := start(t, []runtime.Object{app}, []runtime.Object{readyDeployment("web", "web", 1)})
	status := f.waitForStatus(t, "web", application.PhaseRunning, "1/1")
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	if status["installedBy"] != "someone" || len(conditions) != 2 {
		t.Errorf("status %v lost what archon does not own", status)
	}
}

func TestMalformedSelectorIsReported(t *testing.T) {
	app := newApplication("web", deployments)
	app.Object["spec"].(map[string]any)["selector"] = map[string]any{"matchExpressions": []any{map[string]any{"key": "a", "operator": "Sideways"}}}
	f := start(t, []runtime.Object{app}, nil)
	status := f.waitForStatus(t, "web", application.PhaseFailed, "0/0")
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	if len(conditions) != 1 || conditions[0].(map[string]any)["reason"] != "InvalidSpec" {
		t.Errorf("conditions %v, want Ready False with reason InvalidSpec", conditions)
	}
}

// The kinds archon tracks are a fixed set: it never watches a kind an
// application merely names.
func TestUntrackedKindsAreNamedNotWatched(t *testing.T) {
	widgets := map[string]any{"group": "example.com", "kind": "Widget"}
	f := start(t, []runtime.Object{newApplication("web", deployments, widgets)}, []runtime.Object{readyDeployment("web", "web", 1)})
	status := f.waitForStatus(t, "web", application.PhaseRunning, "1/1")
	conditions, _, _ := unstructured.NestedSlice(status, "conditions")
	message := fmt.Sprint(conditions[0].(map[string]any)["message"])
	if want := "Widget.example.com"; !strings.Contains(message, want) {
		t.Errorf("Ready message %q does not name %s", message, want)
	}
	// Nor kinds whose names viewers may not list, which the status would
	// tell them.
	for _, kind := range []schema.GroupKind{{Group: "example.com", Kind: "Widget"}, {Kind: "Secret"},
		{Group: "rbac.authorization.k8s.io", Kind: "Role"}, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}} {
		if _, tracked := applicationstatus.Tracked[kind]; tracked {
			t.Errorf("%s is tracked", kind)
		}
	}
}

// A status that says it all already is not written again: every
// component change would otherwise be a write per application.
func TestUnchangedStatusIsNotWritten(t *testing.T) {
	f := start(t, []runtime.Object{newApplication("web", deployments)}, []runtime.Object{readyDeployment("web", "web", 1)})
	f.waitForStatus(t, "web", application.PhaseRunning, "1/1")
	writes := func() int {
		n := 0
		for _, action := range f.dynamic.Actions() {
			if action.GetVerb() == "update" && action.GetSubresource() == "status" {
				n++
			}
		}
		return n
	}
	before := writes()
	ctx := context.Background()
	d, err := f.kube.AppsV1().Deployments(namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations = map[string]string{"touched": "yes"}
	if _, err := f.kube.AppsV1().Deployments(namespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The change reaches the controller, which finds nothing to write.
	time.Sleep(300 * time.Millisecond)
	if after := writes(); after != before {
		t.Errorf("%d status writes for a change that changes no status", after-before)
	}
}
