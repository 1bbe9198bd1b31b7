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

func namespaceMember(name, user string, role authv1.NamespaceRole) *authv1.NamespaceMember {
	return &authv1.NamespaceMember{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       authv1.NamespaceMemberSpec{Kind: authv1.MemberKindUser, Name: user, Role: role},
	}
}

func TestNamespaceMembers(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	admin := archonClient(t, adminConfig(t)).AuthV1()
	project := newProject("nm")
	project.Spec.Members = []authv1.ProjectMember{
		{Kind: authv1.MemberKindUser, Name: "nina", Role: authv1.ProjectRoleAdmin},
		{Kind: authv1.MemberKindUser, Name: "bruno", Role: authv1.ProjectRoleAuditor},
	}
	if _, err := admin.Projects().Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []*corev1.Namespace{projectNamespace("nm-dev", "nm"), projectNamespace("nm-outside", "")} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		name := ns.Name
		t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	nina := clientAs(t, "nina").AuthV1().NamespaceMembers("nm-dev")
	eventually(t, "nina, project-admin, adds bruno as developer", func() error {
		_, err := nina.Create(ctx, namespaceMember("bruno-dev", "bruno", authv1.NamespaceRoleDeveloper), metav1.CreateOptions{})
		return err
	})
	bruno := mustKubeconfig(t, "bruno")
	eventually(t, "bruno may deploy in nm-dev", func() error {
		out, _ := kubectl(t, bruno, "", "auth", "can-i", "create", "deployments.apps", "-n", "nm-dev")
		if strings.TrimSpace(out) != "yes" {
			return fmt.Errorf("can-i says %q", strings.TrimSpace(out))
		}
		return nil
	})
	out, err := kubectl(t, mustKubeconfig(t, "nina"), "", "get", "namespacemembers", "-n", "nm-dev")
	if err != nil || !strings.Contains(out, "bruno-dev") || !strings.Contains(out, "developer") || !strings.Contains(out, "SUBJECT") {
		t.Errorf("kubectl get namespacemembers: %v\n%s", err, out)
	}

	_, err = nina.Create(ctx, namespaceMember("carl", "carl", authv1.NamespaceRoleViewer), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "not a member of project nm") {
		t.Errorf("adding a non-member: %v, want 422 saying carl is not a member of project nm", err)
	}
	_, err = admin.NamespaceMembers("nm-outside").Create(ctx, namespaceMember("bruno", "bruno", authv1.NamespaceRoleViewer), metav1.CreateOptions{})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "belongs to no project") {
		t.Errorf("adding a member in a namespace outside projects: %v, want 400", err)
	}

	// Members are bound as the caller, so Kubernetes' own escalation check
	// applies: bruno, a developer who may create members and RoleBindings,
	// may grant what he holds and nothing more.
	brunoMembers := clientAs(t, "bruno").AuthV1().NamespaceMembers("nm-dev")
	_, err = brunoMembers.Create(ctx, namespaceMember("self-admin", "bruno", authv1.NamespaceRoleAdmin), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a developer without create on namespacemembers making himself namespace-admin: %v, want 403", err)
	}
	memberCreator := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-member-creator", Namespace: "nm-dev"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{authv1.GroupName}, Resources: []string{"namespacemembers"}, Verbs: []string{"create"}},
			{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: []string{"create"}},
		},
	}
	if _, err := kube.RbacV1().Roles("nm-dev").Create(ctx, memberCreator, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	creatorBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-member-creator", Namespace: "nm-dev"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: memberCreator.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "bruno"}},
	}
	if _, err := kube.RbacV1().RoleBindings("nm-dev").Create(ctx, creatorBinding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A grant within his rights passes, which shows the refusal below is
	// the escalation check and not a missing permission.
	eventually(t, "bruno, developer, adds himself as viewer", func() error {
		_, err := brunoMembers.Create(ctx, namespaceMember("bruno-self-view", "bruno", authv1.NamespaceRoleViewer), metav1.CreateOptions{})
		return err
	})
	_, err = brunoMembers.Create(ctx, namespaceMember("self-admin", "bruno", authv1.NamespaceRoleAdmin), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "attempting to grant RBAC permissions not currently held") {
		t.Errorf("a developer making himself namespace-admin: %v, want 403 from the RBAC escalation check", err)
	}
	if _, err := kube.RbacV1().RoleBindings("nm-dev").Get(ctx, "self-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("RoleBinding of the refused member: %v, want NotFound", err)
	}

	if _, err := nina.Create(ctx, namespaceMember("bruno-view", "bruno", authv1.NamespaceRoleViewer), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nina.Delete(ctx, "bruno-dev", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings("nm-dev").Get(ctx, "bruno-dev", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("RoleBinding after deleting the member: %v, want NotFound", err)
	}
	if _, err := nina.Get(ctx, "acp:project-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the project's own binding shows as a member: %v", err)
	}

	// Leaving the project takes away the seats in its namespaces.
	onlyNina := []byte(`{"spec":{"members":[{"name":"nina","role":"project-admin"}]}}`)
	if _, err := admin.Projects().Patch(ctx, "nm", types.MergePatchType, onlyNina, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bruno's remaining seats removed", func() error {
		for _, seat := range []string{"bruno-view", "bruno-self-view"} {
			if _, err := kube.RbacV1().RoleBindings("nm-dev").Get(ctx, seat, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s: %w", seat, err)
			}
		}
		return nil
	})
}
