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
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func testProject() *authv1.Project {
	return &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "billing"},
		Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
			{Kind: authv1.MemberKindUser, Name: "zoe", Role: authv1.ProjectRoleAdmin},
			{Kind: authv1.MemberKindServiceAccount, Namespace: "ci", Name: "deployer", Role: authv1.ProjectRoleAdmin},
			{Kind: authv1.MemberKindGroup, Name: "auditors", Role: authv1.ProjectRoleAuditor},
			{Kind: authv1.MemberKindUser, Name: "adam", Role: authv1.ProjectRoleAdmin},
		}},
	}
}

func TestSubjectsAreSortedAndSplitByRole(t *testing.T) {
	admins := subjects(testProject(), authv1.ProjectRoleAdmin)
	want := []rbacv1.Subject{
		{Kind: "ServiceAccount", Namespace: "ci", Name: "deployer"},
		{Kind: "User", APIGroup: rbacv1.GroupName, Name: "adam"},
		{Kind: "User", APIGroup: rbacv1.GroupName, Name: "zoe"},
	}
	if !apiequality.Semantic.DeepEqual(admins, want) {
		t.Errorf("admins %v, want %v", admins, want)
	}
	auditors := subjects(testProject(), authv1.ProjectRoleAuditor)
	if len(auditors) != 1 || auditors[0].Kind != "Group" || auditors[0].Name != "auditors" {
		t.Errorf("auditors %v", auditors)
	}
	empty := subjects(&authv1.Project{}, authv1.ProjectRoleAuditor)
	if empty == nil || len(empty) != 0 {
		t.Errorf("no members gives %#v, want an empty, non-nil list that compares equal to the stored one", empty)
	}
}

func TestRolesNobodyHoldsGetNoObjects(t *testing.T) {
	admins := &authv1.Project{ObjectMeta: metav1.ObjectMeta{Name: "solo"}, Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
		{Kind: authv1.MemberKindUser, Name: "zoe", Role: authv1.ProjectRoleAdmin},
	}}}
	if roles := desiredClusterRoles(admins); len(roles) != 1 || roles[0].Name != "acp:project:solo:project-admin" {
		t.Errorf("roles of a project with only an admin: %v", roles)
	}
	if bindings := desiredRoleBindings(admins, "solo-dev"); len(bindings) != 1 || bindings[0].Name != "acp:project-admin" {
		t.Errorf("namespace bindings of a project with only an admin: %v", bindings)
	}
	nobody := &authv1.Project{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}
	if n := len(desiredClusterRoles(nobody)) + len(desiredClusterRoleBindings(nobody)) + len(desiredRoleBindings(nobody, "empty-dev")); n != 0 {
		t.Errorf("a project without members gets %d RBAC objects", n)
	}
}

func TestClusterRolesGrantOnlyTheProject(t *testing.T) {
	roles := desiredClusterRoles(testProject())
	verbs := map[string][]string{}
	for _, role := range roles {
		if len(role.Rules) == 0 || len(role.Rules[0].ResourceNames) != 1 || role.Rules[0].ResourceNames[0] != "billing" {
			t.Errorf("%s rules %v, want a first rule on projects/billing", role.Name, role.Rules)
		}
		if role.Labels[ManagedByProjectLabel] != "billing" {
			t.Errorf("%s labels %v", role.Name, role.Labels)
		}
		verbs[role.Name] = role.Rules[0].Verbs
	}
	admin := verbs["acp:project:billing:project-admin"]
	auditor := verbs["acp:project:billing:project-auditor"]
	if !contains(admin, authv1.ManageMembersVerb) || !contains(admin, "patch") {
		t.Errorf("project-admin verbs %v lack manage-members or patch", admin)
	}
	if contains(auditor, authv1.ManageMembersVerb) || contains(auditor, "patch") || !contains(auditor, "get") {
		t.Errorf("project-auditor verbs %v", auditor)
	}
}

func TestNamespaceBindingsMapProjectRoles(t *testing.T) {
	bindings := desiredRoleBindings(testProject(), "billing-dev")
	roles := map[string]string{}
	for _, b := range bindings {
		if b.Namespace != "billing-dev" {
			t.Errorf("%s in namespace %q", b.Name, b.Namespace)
		}
		roles[b.Name] = b.RoleRef.Name
	}
	if roles["acp:project-admin"] != "acp:namespace-admin" || roles["acp:project-auditor"] != "acp:viewer" {
		t.Errorf("namespace bindings %v", roles)
	}
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
