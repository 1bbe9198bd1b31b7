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

package applicationcomponent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/acp-archon/archon/pkg/application"
)

func app(name, uid string, addOwnerRef bool, matchLabels map[string]any, kinds ...string) *unstructured.Unstructured {
	var componentKinds []any
	for _, k := range kinds {
		group, kind, _ := strings.Cut(k, "/")
		componentKinds = append(componentKinds, map[string]any{"group": group, "kind": kind})
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "ns", "uid": uid},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": matchLabels}, "componentKinds": componentKinds, "addOwnerRef": addOwnerRef}}}
}

// newWebhook is a webhook whose informer holds cached and whose live
// reads find live and services.
func newWebhook(t *testing.T, cached, live []*unstructured.Unstructured, services ...runtime.Object) *Webhook {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, a := range cached {
		if err := indexer.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	objects := make([]runtime.Object, len(live))
	for i, a := range live {
		objects[i] = a
	}
	dynamicClient := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{application.Resource: "ApplicationList"}, objects...)
	kube := kubefake.NewClientset(services...)
	// alice may update applications, no one else.
	kube.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		attributes := review.Spec.ResourceAttributes
		review.Status.Allowed = review.Spec.User == "alice" && attributes.Verb == "update" && attributes.Resource == "applications"
		return true, review, nil
	})
	return &Webhook{applications: cache.NewGenericLister(indexer, application.Resource.GroupResource()), synced: func() bool { return true },
		kube: kube, dynamic: dynamicClient}
}

// request is a review of obj (an update from old, if any), objects
// given by their metadata or whole as unstructured.
func request(t *testing.T, kind schema.GroupVersionKind, obj, old metav1.Object) *admissionv1.AdmissionRequest {
	t.Helper()
	r := &admissionv1.AdmissionRequest{Namespace: "ns", Operation: admissionv1.Create, UserInfo: authenticationv1.UserInfo{Username: "alice"},
		Kind: metav1.GroupVersionKind{Group: kind.Group, Version: kind.Version, Kind: kind.Kind}}
	r.Object.Raw = encode(t, obj)
	if old != nil {
		r.Operation = admissionv1.Update
		r.OldObject.Raw = encode(t, old)
	}
	return r
}

func encode(t *testing.T, obj metav1.Object) []byte {
	t.Helper()
	var v any = obj
	if meta, ok := obj.(*metav1.ObjectMeta); ok {
		v = map[string]any{"metadata": meta}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var deployment = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

type jsonPatch []struct {
	Op    string                  `json:"op"`
	Path  string                  `json:"path"`
	Value []metav1.OwnerReference `json:"value"`
}

func TestOwnerReferencesJoinAndLeaveWithTheLabels(t *testing.T) {
	ctx := context.Background()
	stale := app("shop", "old-uid", true, map[string]any{"app": "shop"}, "apps/Deployment")
	current := app("shop", "new-uid", true, map[string]any{"app": "shop"}, "apps/Deployment")
	wh := newWebhook(t, []*unstructured.Unstructured{stale}, []*unstructured.Unstructured{current})

	// Joining: the reference names the application as it lives, not as
	// the informer last saw it.
	joining := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"}}
	verdict, err := wh.reviewOwners(ctx, request(t, deployment, joining, nil))
	if err != nil || len(verdict.Problems) > 0 {
		t.Fatal(err, verdict.Problems)
	}
	var patch jsonPatch
	if err := json.Unmarshal(verdict.Patch, &patch); err != nil {
		t.Fatalf("patch %s: %v", verdict.Patch, err)
	}
	if len(patch) != 1 || patch[0].Op != "add" || patch[0].Path != "/metadata/ownerReferences" ||
		len(patch[0].Value) != 1 || patch[0].Value[0].UID != "new-uid" || patch[0].Value[0].Name != "shop" {
		t.Errorf("joining patch %s", verdict.Patch)
	}

	// Written by someone who may not update the application (a
	// controller): left to its own owner.
	byBob := request(t, deployment, joining, nil)
	byBob.UserInfo.Username = "bob"
	if verdict, _ := wh.reviewOwners(ctx, byBob); verdict.Patch != nil {
		t.Errorf("adopted what someone without rights on the application wrote: %s", verdict.Patch)
	}

	// Already owned: nothing to do.
	owned := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"},
		OwnerReferences: []metav1.OwnerReference{application.OwnerReference(current)}}
	if verdict, _ := wh.reviewOwners(ctx, request(t, deployment, owned, owned)); verdict.Patch != nil {
		t.Errorf("patch for an owned component: %s", verdict.Patch)
	}

	// Labeled out: the reference goes, others stay.
	keep := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "keep"}
	out := &metav1.ObjectMeta{Name: "web", OwnerReferences: []metav1.OwnerReference{keep, application.OwnerReference(current)}}
	verdict, err = wh.reviewOwners(ctx, request(t, deployment, out, owned))
	if err != nil {
		t.Fatal(err)
	}
	patch = nil
	if err := json.Unmarshal(verdict.Patch, &patch); err != nil {
		t.Fatalf("patch %s: %v", verdict.Patch, err)
	}
	if len(patch) != 1 || patch[0].Op != "replace" || len(patch[0].Value) != 1 || patch[0].Value[0] != keep {
		t.Errorf("labeled-out patch %s", verdict.Patch)
	}

	// A reference the selector never matched (an import the informer has
	// not seen yet, with a kind the application just gained) stays.
	service := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	imported := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop", "tier": "x"},
		OwnerReferences: []metav1.OwnerReference{application.OwnerReference(current)}}
	before := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"}}
	if verdict, _ := wh.reviewOwners(ctx, request(t, service, imported, before)); verdict.Patch != nil {
		t.Errorf("patch dropping an import's reference: %s", verdict.Patch)
	}
}

func TestAnOrphaningDeletionIsNotUndone(t *testing.T) {
	ctx := context.Background()
	shop := app("shop", "uid", true, map[string]any{"app": "shop"}, "apps/Deployment")
	owned := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"},
		OwnerReferences: []metav1.OwnerReference{application.OwnerReference(shop)}}
	orphaned := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"}}

	// The garbage collector takes the reference off for an orphaning
	// deletion: it stays off.
	wh := newWebhook(t, []*unstructured.Unstructured{shop}, []*unstructured.Unstructured{shop})
	if verdict, err := wh.reviewOwners(ctx, request(t, deployment, orphaned, owned)); err != nil || verdict.Patch != nil {
		t.Errorf("orphaning: %v, patch %s", err, verdict.Patch)
	}
	// An application being deleted adopts nothing new.
	deleting := shop.DeepCopy()
	now := metav1.Now()
	deleting.SetDeletionTimestamp(&now)
	wh = newWebhook(t, []*unstructured.Unstructured{shop}, []*unstructured.Unstructured{deleting})
	if verdict, err := wh.reviewOwners(ctx, request(t, deployment, orphaned, nil)); err != nil || verdict.Patch != nil {
		t.Errorf("adopted by an application being deleted: %v, patch %s", err, verdict.Patch)
	}
}

func TestAResourceBelongsToOneApplication(t *testing.T) {
	ctx := context.Background()
	shop := app("shop", "shop", false, map[string]any{"app": "shop"}, "apps/Deployment")
	tiers := app("tiers", "tiers", false, map[string]any{"tier": "front"}, "apps/Deployment")
	wh := newWebhook(t, []*unstructured.Unstructured{shop, tiers}, nil)

	one := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"}}
	both := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop", "tier": "front"}}
	verdict, err := wh.reviewComponent(ctx, request(t, deployment, both, one))
	if err != nil || len(verdict.Problems) != 1 || !strings.Contains(verdict.Problems[0], "applications shop and tiers") {
		t.Errorf("joining a second application: %v, %v", err, verdict.Problems)
	}
	// A resource in two applications before this rule stays editable.
	relabeled := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop", "tier": "front", "x": "y"}}
	if verdict, err := wh.reviewComponent(ctx, request(t, deployment, relabeled, both)); err != nil || len(verdict.Problems) > 0 {
		t.Errorf("editing a resource claimed twice before: %v, %v", err, verdict.Problems)
	}
	if verdict, err := wh.reviewComponent(ctx, request(t, deployment, one, nil)); err != nil || len(verdict.Problems) > 0 {
		t.Errorf("joining one application: %v, %v", err, verdict.Problems)
	}
}

func TestAnIngressRoutesToItsApplicationsServices(t *testing.T) {
	ctx := context.Background()
	shop := app("shop", "shop", false, map[string]any{"app": "shop"}, "core/Service", "networking.k8s.io/Ingress")
	blogService := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "blog", Namespace: "ns", Labels: map[string]string{"app": "blog"}}}
	shopService := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "ns", Labels: map[string]string{"app": "shop"}}}
	wh := newWebhook(t, []*unstructured.Unstructured{shop}, nil, blogService, shopService)

	ingress := func(services ...string) *unstructured.Unstructured {
		var paths []any
		for _, s := range services {
			paths = append(paths, map[string]any{"backend": map[string]any{"service": map[string]any{"name": s}}})
		}
		obj := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"rules": []any{map[string]any{"http": map[string]any{"paths": paths}}}}}}
		obj.SetName("front")
		obj.SetLabels(map[string]string{"app": "shop"})
		return obj
	}
	kind := schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	verdict, err := wh.reviewComponent(ctx, request(t, kind, ingress("cart", "blog", "not-yet"), nil))
	if err != nil || len(verdict.Problems) != 1 || !strings.Contains(verdict.Problems[0], "routes to Service/blog") {
		t.Errorf("routing to another application's Service: %v, %v", err, verdict.Problems)
	}
	if verdict, err := wh.reviewComponent(ctx, request(t, kind, ingress("cart", "not-yet"), nil)); err != nil || len(verdict.Problems) > 0 {
		t.Errorf("routing to its own and a Service to come: %v, %v", err, verdict.Problems)
	}
}

func TestReviewsFailClosedUntilTheInformerSynced(t *testing.T) {
	wh := newWebhook(t, nil, nil)
	wh.synced = func() bool { return false }
	obj := &metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "shop"}}
	if _, err := wh.reviewComponent(context.Background(), request(t, deployment, obj, nil)); err == nil {
		t.Error("a review before the informer synced passed")
	}
	if wh.Ready(nil) == nil {
		t.Error("ready before the informer synced")
	}
	wh.synced = func() bool { return true }
	if err := wh.Ready(nil); err != nil {
		t.Errorf("not ready once synced: %v", err)
	}
}
