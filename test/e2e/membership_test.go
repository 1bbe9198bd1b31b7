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

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// TestMembershipDrivesRBAC waits for RBAC many times on shared objects,
// hence its long context.
func TestMembershipDrivesRBAC(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()

	project := newProject("rbacp")
	project.Spec.Members = []authv1.ProjectMember{
		{Kind: authv1.MemberKindUser, Name: "alice", Role: authv1.ProjectRoleAdmin},
		{Kind: authv1.MemberKindGroup, Name: "rbacp-auditors", Role: authv1.ProjectRoleAuditor},
	}
	if _, err := admin.Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), "rbacp", metav1.DeleteOptions{}) })
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rbacp-dev", Labels: map[string]string{authv1.NamespaceProjectLabel: "rbacp"}}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A binding of the namespace's own, under a name the controller never
	// uses: it stays through reconciling and release. Bindings under the
	// controller's names are TestHandMadeBindingsUnderTheControllersNames'.
	handMade := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "hand-made", Namespace: "rbacp-dev"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:viewer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "henry"}},
	}
	if _, err := kube.RbacV1().RoleBindings("rbacp-dev").Create(ctx, handMade, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	eventually(t, "project-admin bindings", func() error {
		cluster, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, "acp:project:rbacp:project-admin", metav1.GetOptions{})
		if err != nil {
			return err
		}
		namespaced, err := kube.RbacV1().RoleBindings("rbacp-dev").Get(ctx, "acp:project-admin", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if subjectNames(cluster.Subjects) != "User:alice" || subjectNames(namespaced.Subjects) != "User:alice" || namespaced.RoleRef.Name != "acp:namespace-admin" {
			return fmt.Errorf("cluster binding %s, namespace binding %s to %s", subjectNames(cluster.Subjects), subjectNames(namespaced.Subjects), namespaced.RoleRef.Name)
		}
		auditors, err := kube.RbacV1().RoleBindings("rbacp-dev").Get(ctx, "acp:project-auditor", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if subjectNames(auditors.Subjects) != "Group:rbacp-auditors" || auditors.RoleRef.Name != "acp:viewer" {
			return fmt.Errorf("auditor binding %s to %s", subjectNames(auditors.Subjects), auditors.RoleRef.Name)
		}
		return nil
	})

	alice := mustKubeconfig(t, "alice")
	eve := mustKubeconfig(t, "eve", "rbacp-auditors")
	for _, check := range []struct {
		kubeconfig, verb, resource, namespace, want string
	}{
		{alice, "get", "projects.auth.alauda.io/rbacp", "", "yes"},
		{alice, "manage-members", "projects.auth.alauda.io/rbacp", "", "yes"},
		{alice, "create", "deployments.apps", "rbacp-dev", "yes"},
		{eve, "get", "projects.auth.alauda.io/rbacp", "", "yes"},
		{eve, "patch", "projects.auth.alauda.io/rbacp", "", "no"},
		{eve, "list", "pods", "rbacp-dev", "yes"},
		{eve, "create", "deployments.apps", "rbacp-dev", "no"},
	} {
		args := []string{"auth", "can-i", check.verb, check.resource}
		if check.namespace != "" {
			args = append(args, "-n", check.namespace)
		}
		eventually(t, strings.Join(args, " "), func() error {
			out, _ := kubectl(t, check.kubeconfig, "", args...)
			if strings.TrimSpace(out) != check.want {
				return fmt.Errorf("answered %q, want %q", strings.TrimSpace(out), check.want)
			}
			return nil
		})
	}

	// An auditor may not change members; a project-admin may.
	aliceClient := clientAs(t, "alice").AuthV1().Projects()
	eveClient := clientAs(t, "eve", "rbacp-auditors").AuthV1().Projects()
	dropAuditors := []byte(`{"spec":{"members":[{"name":"alice","role":"project-admin"}]}}`)
	if _, err := eveClient.Patch(ctx, "rbacp", types.MergePatchType, dropAuditors, metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("auditor changing members: %v, want 403", err)
	}
	if _, err := aliceClient.Patch(ctx, "rbacp", types.MergePatchType, dropAuditors, metav1.PatchOptions{}); err != nil {
		t.Fatalf("project-admin changing members: %v", err)
	}
	eventually(t, "auditor bindings removed with the last auditor", func() error {
		if _, err := kube.RbacV1().RoleBindings("rbacp-dev").Get(ctx, "acp:project-auditor", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace binding: %w", err)
		}
		if _, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, "acp:project:rbacp:project-auditor", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("cluster binding: %w", err)
		}
		return nil
	})

	// Releasing the namespace removes the project's bindings from it and
	// leaves the hand-made one (and the image pullers' binding every
	// namespace has).
	release := []byte(`{"metadata":{"labels":{"cpaas.io/project":null}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, "rbacp-dev", types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bindings removed from the released namespace", func() error {
		bindings, err := kube.RbacV1().RoleBindings("rbacp-dev").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var names []string
		for _, b := range bindings.Items {
			names = append(names, b.Name)
		}
		if strings.Join(names, ",") != "hand-made,system:image-pullers" {
			return fmt.Errorf("bindings left: %v", names)
		}
		return nil
	})

	if err := admin.Delete(ctx, "rbacp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cluster-scoped RBAC of the deleted project removed", func() error {
		roles, err := kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "auth.alauda.io/project=rbacp"})
		if err != nil {
			return err
		}
		bindings, err := kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: "auth.alauda.io/project=rbacp"})
		if err != nil {
			return err
		}
		if len(roles.Items)+len(bindings.Items) != 0 {
			return fmt.Errorf("%d roles and %d bindings left", len(roles.Items), len(bindings.Items))
		}
		return nil
	})
}

// In a project namespace the names acp:project-admin and
// acp:project-auditor are the project's: a binding made there by hand under
// one of them becomes the project's, and the project says so. A cluster
// binding under the project's name that archon did not make is left alone.
func TestHandMadeBindingsUnderTheControllersNames(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	rbac := kube.RbacV1()

	// Made by a cluster administrator before the project exists.
	clusterBinding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:project:handp:project-auditor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "henry"}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, clusterBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), clusterBinding.Name, metav1.DeleteOptions{})
	})
	// Made by hand in a namespace that then joins the project.
	createNamespaces(t, "handp-dev")
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), "handp-dev", metav1.DeleteOptions{})
	})
	handMade := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "acp:project-auditor", Namespace: "handp-dev"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:viewer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "henry"}},
	}
	if _, err := rbac.RoleBindings("handp-dev").Create(ctx, handMade, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	project := newProject("handp")
	project.Spec.Members = []authv1.ProjectMember{
		{Kind: authv1.MemberKindUser, Name: "hanna", Role: authv1.ProjectRoleAdmin},
		{Kind: authv1.MemberKindUser, Name: "ivan", Role: authv1.ProjectRoleAuditor},
	}
	if _, err := projects.Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(context.Background(), "handp", metav1.DeleteOptions{}) })
	join := []byte(`{"metadata":{"labels":{"cpaas.io/project":"handp"}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, "handp-dev", types.MergePatchType, join, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the hand-made namespace binding made the project's", func() error {
		binding, err := rbac.RoleBindings("handp-dev").Get(ctx, "acp:project-auditor", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if subjectNames(binding.Subjects) != "User:ivan" || binding.RoleRef.Name != "acp:viewer" || binding.Labels["auth.alauda.io/project"] != "handp" {
			return fmt.Errorf("subjects %s, role %s, labels %v", subjectNames(binding.Subjects), binding.RoleRef.Name, binding.Labels)
		}
		return nil
	})
	projectEvent := func(reason, mentions string) error {
		events, err := kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=handp,involvedObject.kind=Project"})
		if err != nil {
			return err
		}
		for _, event := range events.Items {
			if event.Reason == reason && event.Type == corev1.EventTypeWarning && strings.Contains(event.Message, mentions) {
				return nil
			}
		}
		return fmt.Errorf("%d events, no %s mentioning %s", len(events.Items), reason, mentions)
	}
	eventually(t, "an Event says the namespace binding was in the way", func() error {
		return projectEvent("RoleBindingRestored", "handp-dev/acp:project-auditor")
	})

	// The project's other cluster objects exist, so the controller has
	// seen the taken name, and says so; the binding is as it was made.
	eventually(t, "the project's own cluster binding", func() error {
		_, err := rbac.ClusterRoleBindings().Get(ctx, "acp:project:handp:project-admin", metav1.GetOptions{})
		return err
	})
	eventually(t, "an Event says the cluster binding's name is taken", func() error {
		return projectEvent("NameTaken", "ClusterRoleBinding acp:project:handp:project-auditor")
	})
	clusterUnchanged := func(when string) {
		t.Helper()
		got, err := rbac.ClusterRoleBindings().Get(ctx, clusterBinding.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the hand-made ClusterRoleBinding %s: %v", when, err)
		}
		if subjectNames(got.Subjects) != "User:henry" || got.RoleRef != clusterBinding.RoleRef || got.Labels["auth.alauda.io/project"] != "" {
			t.Errorf("the hand-made ClusterRoleBinding %s: subjects %s, role %v, labels %v; want it as it was made",
				when, subjectNames(got.Subjects), got.RoleRef, got.Labels)
		}
	}
	clusterUnchanged("after reconciling")
	if got := canIAs(t, mustKubeconfig(t, "ivan"), "get", "projects.auth.alauda.io/handp"); got != "no" {
		t.Errorf("ivan, whose cluster binding's name is taken, may get the project: %q", got)
	}

	// Releasing the namespace and deleting the project remove only what
	// archon made.
	release := []byte(`{"metadata":{"labels":{"cpaas.io/project":null}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, "handp-dev", types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := projects.Delete(ctx, "handp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted project's own cluster binding removed", func() error {
		if _, err := rbac.ClusterRoleBindings().Get(ctx, "acp:project:handp:project-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("acp:project:handp:project-admin: %w", err)
		}
		return nil
	})
	clusterUnchanged("after the project's deletion")
}

func TestChangingMembersNeedsManageMembers(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()
	if _, err := admin.Create(ctx, newProject("members-guard"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), "members-guard", metav1.DeleteOptions{}) })

	rbac := kubeClient(t).RbacV1()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-project-editor"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{authv1.GroupName}, Resources: []string{"projects"}, Verbs: []string{"get", "update", "patch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-project-editor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "ursula"}},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})

	ursula := clientAs(t, "ursula").AuthV1().Projects()
	eventually(t, "ursula may edit labels", func() error {
		_, err := ursula.Patch(ctx, "members-guard", types.MergePatchType, []byte(`{"metadata":{"labels":{"edited":"yes"}}}`), metav1.PatchOptions{})
		return err
	})
	_, err := ursula.Patch(ctx, "members-guard", types.MergePatchType, []byte(`{"spec":{"members":[{"name":"ursula","role":"project-admin"}]}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "manage-members") {
		t.Errorf("ursula adding herself as a member: %v, want 403 naming manage-members", err)
	}
}
