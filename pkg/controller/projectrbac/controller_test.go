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

package projectrbac

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
)

// harness drives the controller's sync against fake clients. Its
// informers never run: refresh loads their caches from the fake API
// server, so each test decides whether a sync sees the cluster as it is
// or a cache that has not caught up.
type harness struct {
	t        *testing.T
	ctx      context.Context
	kube     *kubefake.Clientset
	archon   *archonfake.Clientset
	recorder *record.FakeRecorder
	c        *Controller
	// caches pairs each informer the controller reads with a list of what
	// it would hold.
	caches []informerCache
}

type informerCache struct {
	informer cache.SharedIndexInformer
	list     func(ctx context.Context) (runtime.Object, error)
}

func newHarness(t *testing.T, project *authv1.Project, objects ...runtime.Object) *harness {
	t.Helper()
	// NewClientset, unlike NewSimpleClientset, serves server-side apply.
	kube := kubefake.NewClientset(objects...)
	archon := archonfake.NewSimpleClientset(project)
	recorder := record.NewFakeRecorder(100)
	kubeInformers := kubeinformers.NewSharedInformerFactory(kube, 0)
	ownedInformers, seatInformers := NewOwnedInformers(kube), NewSeatInformers(kube)
	archonInformers := archoninformers.NewSharedInformerFactory(archon, 0)
	c, err := New(kube, archon, recorder, kubeInformers, ownedInformers, seatInformers, archonInformers)
	if err != nil {
		t.Fatal(err)
	}
	kube.PrependReactor("patch", "*", roleRefIsImmutable(kube.Tracker()))
	rbac := kube.RbacV1()
	owned := metav1.ListOptions{LabelSelector: ManagedByProjectLabel}
	seats := metav1.ListOptions{LabelSelector: authv1.NamespaceMemberLabel}
	h := &harness{t: t, ctx: context.Background(), kube: kube, archon: archon, recorder: recorder, c: c}
	h.caches = []informerCache{
		{archonInformers.Auth().V1().Projects().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return archon.AuthV1().Projects().List(ctx, metav1.ListOptions{})
		}},
		{kubeInformers.Core().V1().Namespaces().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		}},
		{ownedInformers.Rbac().V1().ClusterRoles().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return rbac.ClusterRoles().List(ctx, owned)
		}},
		{ownedInformers.Rbac().V1().ClusterRoleBindings().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return rbac.ClusterRoleBindings().List(ctx, owned)
		}},
		{ownedInformers.Rbac().V1().RoleBindings().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return rbac.RoleBindings("").List(ctx, owned)
		}},
		{seatInformers.Rbac().V1().RoleBindings().Informer(), func(ctx context.Context) (runtime.Object, error) {
			return rbac.RoleBindings("").List(ctx, seats)
		}},
	}
	return h
}

// roleRefIsImmutable refuses, as the API server does, a patch that would
// change a binding's role: the fake clientset would apply it.
func roleRefIsImmutable(tracker clienttesting.ObjectTracker) clienttesting.ReactionFunc {
	return func(action clienttesting.Action) (bool, runtime.Object, error) {
		patch := action.(clienttesting.PatchAction)
		var patched struct {
			RoleRef *rbacv1.RoleRef `json:"roleRef"`
		}
		if err := json.Unmarshal(patch.GetPatch(), &patched); err != nil || patched.RoleRef == nil {
			return false, nil, nil
		}
		existing, err := tracker.Get(action.GetResource(), action.GetNamespace(), patch.GetName())
		if err != nil {
			return false, nil, nil
		}
		var roleRef rbacv1.RoleRef
		switch binding := existing.(type) {
		case *rbacv1.RoleBinding:
			roleRef = binding.RoleRef
		case *rbacv1.ClusterRoleBinding:
			roleRef = binding.RoleRef
		default:
			return false, nil, nil
		}
		if roleRef != *patched.RoleRef {
			return true, nil, apierrors.NewInvalid(rbacv1.SchemeGroupVersion.WithKind("RoleBinding").GroupKind(), patch.GetName(),
				field.ErrorList{field.Invalid(field.NewPath("roleRef"), patched.RoleRef, "cannot change roleRef")})
		}
		return false, nil, nil
	}
}

// refresh makes every cache hold what its informer would have seen by now.
func (h *harness) refresh() {
	h.t.Helper()
	for _, informer := range h.caches {
		list, err := informer.list(h.ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		objects, err := meta.ExtractList(list)
		if err != nil {
			h.t.Fatal(err)
		}
		items := make([]any, 0, len(objects))
		for _, obj := range objects {
			items = append(items, obj)
		}
		if err := informer.informer.GetIndexer().Replace(items, ""); err != nil {
			h.t.Fatal(err)
		}
	}
}

// sync refreshes the caches, then syncs the project.
func (h *harness) sync(project string) {
	h.t.Helper()
	h.refresh()
	if err := h.c.sync(h.ctx, project); err != nil {
		h.t.Fatalf("sync %s: %v", project, err)
	}
}

// events returns the Events recorded since the last call.
func (h *harness) events() []string {
	var events []string
	for len(h.recorder.Events) > 0 {
		events = append(events, <-h.recorder.Events)
	}
	return events
}

func (h *harness) roleBinding(namespace, name string) *rbacv1.RoleBinding {
	h.t.Helper()
	binding, err := h.kube.RbacV1().RoleBindings(namespace).Get(h.ctx, name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return binding
}

func (h *harness) absent(obj runtime.Object, get func() error) {
	h.t.Helper()
	if err := get(); !apierrors.IsNotFound(err) {
		h.t.Errorf("%T still there: %v", obj, err)
	}
}

func shop() *authv1.Project {
	return &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Finalizers: []string{authv1.ProjectRBACFinalizer}},
		Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
			{Kind: authv1.MemberKindUser, Name: "alice", Role: authv1.ProjectRoleAdmin},
			{Kind: authv1.MemberKindGroup, Name: "shop-auditors", Role: authv1.ProjectRoleAuditor},
		}},
	}
}

func namespace(name, project string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{authv1.NamespaceProjectLabel: project}}}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func subjectNames(subjects []rbacv1.Subject) string {
	var names []string
	for _, s := range subjects {
		names = append(names, s.Kind+":"+s.Name)
	}
	return strings.Join(names, ",")
}

func reasons(events []string) []string {
	var out []string
	for _, event := range events {
		if fields := strings.Fields(event); len(fields) > 1 {
			out = append(out, fields[1])
		}
	}
	return out
}

// A sync makes the project's objects with server-side apply, restores a
// binding someone edited, and a later sync prunes what a removed member
// no longer needs.
func TestSyncAppliesRestoresAndPrunes(t *testing.T) {
	seat := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "former", Namespace: "shop-dev", Labels: map[string]string{authv1.NamespaceMemberLabel: "true"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authv1.DeveloperClusterRole},
		Subjects:   []rbacv1.Subject{user("former")},
	}
	h := newHarness(t, shop(), namespace("shop-dev", "shop"), namespace("elsewhere", ""), seat)
	h.sync("shop")

	admins := h.roleBinding("shop-dev", "acp:project-admin")
	if subjectNames(admins.Subjects) != "User:alice" || admins.RoleRef.Name != authv1.NamespaceAdminClusterRole || admins.Labels[ManagedByProjectLabel] != "shop" {
		t.Errorf("admin binding %s to %s, labels %v", subjectNames(admins.Subjects), admins.RoleRef.Name, admins.Labels)
	}
	if managers := fieldManagers(admins); !slices.Contains(managers, FieldManager+"/Apply") {
		t.Errorf("the binding was not applied by %s: managers %v", FieldManager, managers)
	}
	auditors := h.roleBinding("shop-dev", "acp:project-auditor")
	if subjectNames(auditors.Subjects) != "Group:shop-auditors" || auditors.RoleRef.Name != authv1.ViewerClusterRole {
		t.Errorf("auditor binding %s to %s", subjectNames(auditors.Subjects), auditors.RoleRef.Name)
	}
	for _, name := range []string{"acp:project:shop:project-admin", "acp:project:shop:project-auditor"} {
		if _, err := h.kube.RbacV1().ClusterRoles().Get(h.ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole %s: %v", name, err)
		}
		binding, err := h.kube.RbacV1().ClusterRoleBindings().Get(h.ctx, name, metav1.GetOptions{})
		if err != nil || binding.RoleRef.Name != name {
			t.Errorf("ClusterRoleBinding %s: %v %v", name, err, binding)
		}
	}
	if list, _ := h.kube.RbacV1().RoleBindings("elsewhere").List(h.ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("a namespace of no project got %d bindings", len(list.Items))
	}
	h.absent(seat, func() error {
		_, err := h.kube.RbacV1().RoleBindings("shop-dev").Get(h.ctx, "former", metav1.GetOptions{})
		return err
	})
	if events := h.events(); len(events) != 0 {
		t.Errorf("a first sync with nothing in the way recorded %q", events)
	}

	// A sync with nothing changed writes nothing.
	h.kube.ClearActions()
	h.sync("shop")
	for _, action := range h.kube.Actions() {
		if action.GetVerb() != "list" {
			t.Errorf("a sync with nothing to do sent %s %s", action.GetVerb(), action.GetResource().Resource)
		}
	}

	// A namespace admin unlabels the admin binding and gives it to
	// someone else.
	edit := `{"metadata":{"labels":{"auth.alauda.io/project":null}},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"intruder"}]}`
	if _, err := h.kube.RbacV1().RoleBindings("shop-dev").Patch(h.ctx, "acp:project-admin", types.MergePatchType, []byte(edit), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	admins = h.roleBinding("shop-dev", "acp:project-admin")
	if subjectNames(admins.Subjects) != "User:alice" || admins.Labels[ManagedByProjectLabel] != "shop" {
		t.Errorf("edited binding not restored: %s, labels %v", subjectNames(admins.Subjects), admins.Labels)
	}
	if events := h.events(); !slices.Equal(reasons(events), []string{"RoleBindingRestored"}) || !strings.Contains(events[0], "shop-dev/acp:project-admin") {
		t.Errorf("events after restoring an edited binding: %q", events)
	}

	// An edit that keeps the label is undone too, quietly: archon cannot
	// tell it from its own earlier write.
	steal := `{"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"intruder"}]}`
	if _, err := h.kube.RbacV1().ClusterRoleBindings().Patch(h.ctx, "acp:project:shop:project-admin", types.MergePatchType, []byte(steal), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	if binding, err := h.kube.RbacV1().ClusterRoleBindings().Get(h.ctx, "acp:project:shop:project-admin", metav1.GetOptions{}); err != nil || subjectNames(binding.Subjects) != "User:alice" {
		t.Errorf("edited ClusterRoleBinding not restored: %v %v", err, binding)
	}

	// A new admin joins: the bindings of the role follow.
	project, err := h.archon.AuthV1().Projects().Get(h.ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	project.Spec.Members = append(project.Spec.Members, authv1.ProjectMember{Kind: authv1.MemberKindUser, Name: "bob", Role: authv1.ProjectRoleAdmin})
	if project, err = h.archon.AuthV1().Projects().Update(h.ctx, project, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	if admins := h.roleBinding("shop-dev", "acp:project-admin"); subjectNames(admins.Subjects) != "User:alice,User:bob" {
		t.Errorf("admin binding after bob joined: %s", subjectNames(admins.Subjects))
	}
	if events := h.events(); len(events) != 0 {
		t.Errorf("archon's own changes recorded %q", events)
	}

	// The last auditor leaves: the auditor objects go, the admin ones stay.
	project.Spec.Members = slices.DeleteFunc(project.Spec.Members, func(m authv1.ProjectMember) bool { return m.Role == authv1.ProjectRoleAuditor })
	if _, err := h.archon.AuthV1().Projects().Update(h.ctx, project, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	h.absent(&rbacv1.RoleBinding{}, func() error {
		_, err := h.kube.RbacV1().RoleBindings("shop-dev").Get(h.ctx, "acp:project-auditor", metav1.GetOptions{})
		return err
	})
	h.absent(&rbacv1.ClusterRoleBinding{}, func() error {
		_, err := h.kube.RbacV1().ClusterRoleBindings().Get(h.ctx, "acp:project:shop:project-auditor", metav1.GetOptions{})
		return err
	})
	h.absent(&rbacv1.ClusterRole{}, func() error {
		_, err := h.kube.RbacV1().ClusterRoles().Get(h.ctx, "acp:project:shop:project-auditor", metav1.GetOptions{})
		return err
	})
	h.roleBinding("shop-dev", "acp:project-admin")

	// Releasing the namespace takes the project's bindings out of it.
	release := `{"metadata":{"labels":{"cpaas.io/project":null}}}`
	if _, err := h.kube.CoreV1().Namespaces().Patch(h.ctx, "shop-dev", types.MergePatchType, []byte(release), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	h.absent(&rbacv1.RoleBinding{}, func() error {
		_, err := h.kube.RbacV1().RoleBindings("shop-dev").Get(h.ctx, "acp:project-admin", metav1.GetOptions{})
		return err
	})
}

func fieldManagers(obj metav1.Object) []string {
	var managers []string
	for _, entry := range obj.GetManagedFields() {
		managers = append(managers, entry.Manager+"/"+string(entry.Operation))
	}
	return managers
}

// A ClusterRole or ClusterRoleBinding of the project's name that archon did
// not make is left alone, with a NameTaken Event, whether or not the
// cache has caught up; deleting the project removes what archon made and
// still leaves it.
func TestHandMadeClusterObjectsAreLeftAlone(t *testing.T) {
	handMade := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:project:shop:project-admin", Labels: map[string]string{"team": "platform"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:project:shop:project-admin"},
		Subjects:   []rbacv1.Subject{user("mallory")},
	}
	h := newHarness(t, shop(), handMade.DeepCopy())
	h.sync("shop")
	if events := h.events(); !slices.Equal(reasons(events), []string{"NameTaken"}) || !strings.Contains(events[0], "ClusterRoleBinding acp:project:shop:project-admin") {
		t.Errorf("events: %q", events)
	}
	have, err := h.kube.RbacV1().ClusterRoleBindings().Get(h.ctx, handMade.Name, metav1.GetOptions{})
	if err != nil || subjectNames(have.Subjects) != "User:mallory" || have.Labels[ManagedByProjectLabel] != "" || len(have.ManagedFields) != 0 {
		t.Errorf("the hand-made binding was changed: %v %+v", err, have)
	}
	if _, err := h.kube.RbacV1().ClusterRoleBindings().Get(h.ctx, "acp:project:shop:project-auditor", metav1.GetOptions{}); err != nil {
		t.Errorf("the binding nobody was in the way of: %v", err)
	}

	// The project goes: archon's objects with it, the hand-made one stays.
	if err := h.archon.AuthV1().Projects().Delete(h.ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	roles, _ := h.kube.RbacV1().ClusterRoles().List(h.ctx, metav1.ListOptions{})
	bindings, _ := h.kube.RbacV1().ClusterRoleBindings().List(h.ctx, metav1.ListOptions{})
	if len(roles.Items) != 0 || len(bindings.Items) != 1 || bindings.Items[0].Name != handMade.Name {
		t.Errorf("after the project went: %d roles, bindings %v", len(roles.Items), bindings.Items)
	}
}

// An object archon made a moment ago, which the cache has not seen yet, is
// archon's: no NameTaken Event, and it is not written again.
func TestObjectsNotYetCachedAreNotTakenForSomeoneElses(t *testing.T) {
	h := newHarness(t, shop(), namespace("shop-dev", "shop"))
	h.sync("shop")
	h.kube.ClearActions()
	if err := h.c.sync(h.ctx, "shop"); err != nil { // caches as before the first sync
		t.Fatal(err)
	}
	if events := h.events(); len(events) != 0 {
		t.Errorf("events: %q", events)
	}
	for _, action := range h.kube.Actions() {
		if verb := action.GetVerb(); verb != "get" {
			t.Errorf("a sync of objects archon already made sent %s %s", verb, action.GetResource().Resource)
		}
	}
}

// A binding of the project's name that someone made by hand in a project
// namespace, with another role, is replaced by the project's.
func TestHandMadeRoleBindingWithAnotherRoleIsReplaced(t *testing.T) {
	handMade := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:project-admin", Namespace: "shop-dev"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authv1.ViewerClusterRole},
		Subjects:   []rbacv1.Subject{user("intruder")},
	}
	h := newHarness(t, shop(), namespace("shop-dev", "shop"), handMade)
	h.sync("shop")
	have := h.roleBinding("shop-dev", "acp:project-admin")
	if have.RoleRef.Name != authv1.NamespaceAdminClusterRole || subjectNames(have.Subjects) != "User:alice" || have.Labels[ManagedByProjectLabel] != "shop" {
		t.Errorf("binding %s to %s, labels %v", subjectNames(have.Subjects), have.RoleRef.Name, have.Labels)
	}
	events := h.events()
	if !slices.Equal(reasons(events), []string{"RoleBindingRestored"}) || !strings.Contains(events[0], fmt.Sprintf("role %s", authv1.ViewerClusterRole)) {
		t.Errorf("events: %q", events)
	}
}

// A project being deleted loses its RBAC, then its finalizer; a project
// without the finalizer gets it first.
func TestFinalizerHoldsADeletedProjectUntilItsRBACIsGone(t *testing.T) {
	project := shop()
	project.Finalizers = nil
	h := newHarness(t, project, namespace("shop-dev", "shop"))
	h.sync("shop")
	projects := h.archon.AuthV1().Projects()
	if project, _ = projects.Get(h.ctx, "shop", metav1.GetOptions{}); !slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		t.Fatalf("finalizers %v", project.Finalizers)
	}
	h.sync("shop")
	h.roleBinding("shop-dev", "acp:project-admin")

	now := metav1.Now()
	project.DeletionTimestamp = &now
	if _, err := projects.Update(h.ctx, project, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.sync("shop")
	roles, _ := h.kube.RbacV1().ClusterRoles().List(h.ctx, metav1.ListOptions{})
	bindings, _ := h.kube.RbacV1().RoleBindings("shop-dev").List(h.ctx, metav1.ListOptions{})
	if len(roles.Items)+len(bindings.Items) != 0 {
		t.Errorf("a deleted project keeps %d roles and %d bindings", len(roles.Items), len(bindings.Items))
	}
	if project, _ = projects.Get(h.ctx, "shop", metav1.GetOptions{}); slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		t.Errorf("the deleted project keeps its finalizer")
	}
}

// TestABindingThatCannotBeAppliedTakesNoRightsAway: a namespace admin of
// shop-dev leaves a terminating RoleBinding of a name the controller needs
// (acp:project-auditor) bound to another role, so applying it fails on
// every sync. The sync fails and is retried, but what takes rights away
// still runs: a former member's seat in shop-prod goes, a binding of a
// departed role is pruned, and the other namespaces get their bindings.
func TestABindingThatCannotBeAppliedTakesNoRightsAway(t *testing.T) {
	trap := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:project-auditor", Namespace: "shop-dev",
			Finalizers: []string{"tenant.example/hold"}, DeletionTimestamp: &metav1.Time{}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authv1.DeveloperClusterRole},
		Subjects: []rbacv1.Subject{user("mallory")},
	}
	seat := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "mallory-prod", Namespace: "shop-prod", Labels: map[string]string{authv1.NamespaceMemberLabel: "true"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authv1.NamespaceAdminClusterRole},
		Subjects:   []rbacv1.Subject{user("mallory")},
	}
	departed := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:departed-role", Namespace: "shop-prod", Labels: map[string]string{ManagedByProjectLabel: "shop"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: authv1.ViewerClusterRole},
		Subjects:   []rbacv1.Subject{user("mallory")},
	}
	h := newHarness(t, shop(), namespace("shop-dev", "shop"), namespace("shop-prod", "shop"), trap, seat, departed)
	// The API server answers a delete of a terminating object without removing it.
	h.kube.PrependReactor("delete", "rolebindings", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.(clienttesting.DeleteAction).GetName() == trap.Name && action.GetNamespace() == trap.Namespace {
			return true, nil, nil
		}
		return false, nil, nil
	})
	h.refresh()
	if err := h.c.sync(h.ctx, "shop"); err == nil {
		t.Fatal("the sync succeeded although a binding could not be applied; it must fail to be retried")
	}
	h.absent(seat, func() error {
		_, err := h.kube.RbacV1().RoleBindings("shop-prod").Get(h.ctx, seat.Name, metav1.GetOptions{})
		return err
	})
	h.absent(departed, func() error {
		_, err := h.kube.RbacV1().RoleBindings("shop-prod").Get(h.ctx, departed.Name, metav1.GetOptions{})
		return err
	})
	if binding := h.roleBinding("shop-prod", "acp:project-auditor"); binding.RoleRef.Name != authv1.ViewerClusterRole {
		t.Errorf("shop-prod's auditor binding %+v, want it applied despite shop-dev's", binding.RoleRef)
	}
}
