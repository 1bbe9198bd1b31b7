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

package application

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

func testApplication(name string, matchLabels map[string]any, addOwnerRef bool, kinds ...map[string]any) *unstructured.Unstructured {
	componentKinds := make([]any, len(kinds))
	for i, k := range kinds {
		componentKinds[i] = k
	}
	spec := map[string]any{"componentKinds": componentKinds, "addOwnerRef": addOwnerRef}
	if matchLabels != nil {
		spec["selector"] = map[string]any{"matchLabels": matchLabels}
	}
	app := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "ns", "uid": name + "-uid", "resourceVersion": "7"}, "spec": spec}}
	return app
}

func testObject(kind schema.GroupKind, name string, labels map[string]string, owners ...metav1.OwnerReference) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	obj.SetGroupVersionKind(kind.WithVersion("v1"))
	obj.SetNamespace("ns")
	obj.SetName(name)
	obj.SetLabels(labels)
	obj.SetOwnerReferences(owners)
	obj.SetResourceVersion("3")
	return obj
}

var (
	deploymentKind = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	appsDeployment = map[string]any{"group": "apps", "kind": "Deployment"}
	coreService    = map[string]any{"group": "core", "kind": "Service"}
)

func TestClaims(t *testing.T) {
	shop := testApplication("shop", map[string]any{"app": "shop"}, true, appsDeployment, coreService)
	blog := testApplication("blog", map[string]any{"tier": "front"}, false, appsDeployment)
	nothing := testApplication("nothing", nil, false, appsDeployment)
	elsewhere := testApplication("elsewhere", map[string]any{"app": "shop"}, false, appsDeployment)
	elsewhere.SetNamespace("other")
	malformed := testApplication("malformed", map[string]any{"app": "shop"}, false, appsDeployment)
	malformed.Object["spec"].(map[string]any)["componentKinds"] = "Deployment"
	apps := []*unstructured.Unstructured{shop, blog, nothing, elsewhere, malformed}

	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want string
	}{
		{"selector and kind", testObject(deploymentKind, "web", map[string]string{"app": "shop"}), "shop"},
		{"core group written core", testObject(ServiceKind, "web", map[string]string{"app": "shop"}), "shop"},
		{"a kind the application lacks", testObject(IngressKind, "web", map[string]string{"app": "shop"}), ""},
		{"two selectors", testObject(deploymentKind, "web", map[string]string{"app": "shop", "tier": "front"}), "blog,shop"},
		{"an owner reference alone", testObject(IngressKind, "web", nil, OwnerReference(blog)), "blog"},
		{"no labels", testObject(deploymentKind, "web", nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(Claims(apps, tc.obj.GroupVersionKind().GroupKind(), tc.obj), ","); got != tc.want {
				t.Errorf("Claims = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSelectingIgnoresOwners(t *testing.T) {
	shop := testApplication("shop", map[string]any{"app": "shop"}, true, appsDeployment)
	blog := testApplication("blog", map[string]any{"app": "blog"}, true, appsDeployment)
	claimants := ClaimantsOf([]*unstructured.Unstructured{shop, blog})
	obj := testObject(deploymentKind, "web", map[string]string{"app": "shop"}, OwnerReference(blog))
	if got := strings.Join(claimants.Claims(deploymentKind, obj), ","); got != "blog,shop" {
		t.Errorf("Claims = %q, want blog,shop", got)
	}
	if got := strings.Join(claimants.Selecting(deploymentKind, obj), ","); got != "shop" {
		t.Errorf("Selecting = %q, want shop", got)
	}
}

func TestIngressServicesAndStrayRoutes(t *testing.T) {
	ingress := testObject(IngressKind, "front", nil)
	ingress.Object["spec"] = map[string]any{
		"defaultBackend": map[string]any{"service": map[string]any{"name": "fallback"}},
		"rules": []any{
			map[string]any{"http": map[string]any{"paths": []any{
				map[string]any{"backend": map[string]any{"service": map[string]any{"name": "web"}}},
				map[string]any{"backend": map[string]any{"resource": map[string]any{"kind": "Bucket", "name": "static"}}},
			}}},
			map[string]any{"http": map[string]any{"paths": []any{
				map[string]any{"backend": map[string]any{"service": map[string]any{"name": "web"}}},
			}}},
			"not a rule",
		},
	}
	if got := strings.Join(IngressServices(ingress), ","); got != "fallback,web" {
		t.Errorf("IngressServices = %q, want fallback,web", got)
	}
	member := Member{Kind: IngressKind, Name: "front", Path: field.NewPath("spec", "resources").Index(0)}
	after := map[Member]bool{{Kind: ServiceKind, Name: "web"}: true}
	stray := strayRoutes([]*unstructured.Unstructured{ingress}, []Member{member}, after)
	if len(stray) != 1 || stray[0].service != "fallback" || stray[0].ingress.Path.String() != "spec.resources[0]" {
		t.Errorf("strayRoutes = %+v, want fallback from spec.resources[0]", stray)
	}
}

func TestMembershipLabelsNeedMatchLabelsAlone(t *testing.T) {
	for name, app := range map[string]*unstructured.Unstructured{
		"none":  testApplication("a", nil, false),
		"empty": testApplication("a", map[string]any{}, false),
	} {
		spec, _ := SpecOf(app)
		if _, err := membershipLabels(app, spec); err == nil || !strings.Contains(err.Error(), "spec.selector.matchLabels") {
			t.Errorf("%s selector: %v, want an error naming spec.selector.matchLabels", name, err)
		}
	}
	app := testApplication("a", map[string]any{"app": "a"}, false)
	app.Object["spec"].(map[string]any)["selector"].(map[string]any)["matchExpressions"] = []any{
		map[string]any{"key": "tier", "operator": "Exists"}}
	spec, _ := SpecOf(app)
	if _, err := membershipLabels(app, spec); err == nil || !strings.Contains(err.Error(), "matchExpressions") {
		t.Errorf("a selector with expressions: %v", err)
	}
}

func TestComponentKindsPatchAddsOnlyMissingKinds(t *testing.T) {
	app := testApplication("shop", map[string]any{"app": "shop"}, false, appsDeployment)
	spec, _ := SpecOf(app)
	if patch := componentKindsPatch(app, spec, []Member{{Kind: deploymentKind, Name: "web"}}); patch != nil {
		t.Errorf("patch for a kind held: %s", patch)
	}
	patch := componentKindsPatch(app, spec, []Member{{Kind: ServiceKind, Name: "a"}, {Kind: ServiceKind, Name: "b"}, {Kind: IngressKind, Name: "c"}})
	var got struct {
		Metadata struct{ ResourceVersion string }
		Spec     struct{ ComponentKinds []metav1.GroupKind }
	}
	if err := json.Unmarshal(patch, &got); err != nil {
		t.Fatal(err)
	}
	if undo := string(componentKindsUndo(app)); undo != `{"spec":{"componentKinds":[{"group":"apps","kind":"Deployment"}]}}` {
		t.Errorf("undo %s", undo)
	}
	if got.Metadata.ResourceVersion != "7" {
		t.Errorf("the patch is not made on the version read: %s", patch)
	}
	want := []metav1.GroupKind{{Group: "apps", Kind: "Deployment"}, {Group: "core", Kind: "Service"}, {Group: "networking.k8s.io", Kind: "Ingress"}}
	if len(got.Spec.ComponentKinds) != len(want) {
		t.Fatalf("componentKinds %v, want %v", got.Spec.ComponentKinds, want)
	}
	for i := range want {
		if got.Spec.ComponentKinds[i] != want[i] {
			t.Errorf("componentKinds %v, want %v", got.Spec.ComponentKinds, want)
		}
	}
}

func TestOwnerReferencesFollowAddOwnerRef(t *testing.T) {
	app := testApplication("shop", map[string]any{"app": "shop"}, true)
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "keep-uid"}
	bare := testObject(deploymentKind, "web", nil, other)

	refs, changed := ownerReferences(bare, app, true)
	if !changed || len(refs) != 2 || refs[0] != other || refs[1].UID != "shop-uid" || refs[1].Kind != Kind {
		t.Errorf("owning: %v, %v", refs, changed)
	}
	owned := testObject(deploymentKind, "web", nil, other, OwnerReference(app))
	if _, changed := ownerReferences(owned, app, true); changed {
		t.Error("owning what it owns changed the references")
	}
	refs, changed = ownerReferences(owned, app, false)
	if !changed || len(refs) != 1 || refs[0] != other {
		t.Errorf("disowning: %v, %v", refs, changed)
	}

	// A removal's patch deletes the labels and the last reference, on the
	// version read.
	lone := testObject(deploymentKind, "web", map[string]string{"app": "shop"}, OwnerReference(app))
	refs, changed = ownerReferences(lone, app, false)
	patch := string(metadataPatch(lone, map[string]any{"app": nil}, refs, changed))
	if want := `{"metadata":{"labels":{"app":null},"ownerReferences":null,"resourceVersion":"3"}}`; patch != want {
		t.Errorf("removal patch %s, want %s", patch, want)
	}
	if patch := metadataPatch(lone, map[string]any{}, nil, false); patch != nil {
		t.Errorf("a patch changing nothing: %s", patch)
	}
}

func TestARefusedWriteUndoesTheWritesBefore(t *testing.T) {
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	var written []string
	client.PrependReactor("patch", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		patch := action.(clienttesting.PatchActionImpl)
		if len(patch.PatchOptions.DryRun) > 0 {
			return true, &unstructured.Unstructured{}, nil
		}
		written = append(written, patch.Name+" "+string(patch.Patch))
		if patch.Name == "b" && !strings.Contains(string(patch.Patch), `"app":null`) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "b", errors.New("changed since"))
		}
		return true, &unstructured.Unstructured{}, nil
	})
	services := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	a := testObject(ServiceKind, "a", map[string]string{"tier": "x"})
	b := testObject(ServiceKind, "b", nil)
	labels := map[string]any{"app": "shop"}
	writes := []membershipWrite{
		{resource: services, name: "a", patch: metadataPatch(a, labels, nil, false), undo: metadataUndo(a, labels, false)},
		{resource: services, name: "b", patch: metadataPatch(b, labels, nil, false), undo: metadataUndo(b, labels, false)},
	}
	err := patchAll(context.Background(), client, "ns", writes, false)
	if !apierrors.IsConflict(err) {
		t.Fatalf("patchAll = %v, want the conflict", err)
	}
	want := []string{
		`a {"metadata":{"labels":{"app":"shop"},"resourceVersion":"3"}}`,
		`b {"metadata":{"labels":{"app":"shop"},"resourceVersion":"3"}}`,
		`a {"metadata":{"labels":{"app":null}}}`,
	}
	if strings.Join(written, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(written, "\n"), strings.Join(want, "\n"))
	}
}
