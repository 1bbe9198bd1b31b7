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

// Package projectrbac keeps RBAC in step with Project.spec.members: every
// member may read their project (project-admins may also change it and its
// members), and in every namespace of the project project-admins are
// namespace admins and project-auditors are viewers. It owns only objects
// carrying its label and never touches bindings people made by hand.
package projectrbac

import (
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

const (
	// ManagedByProjectLabel marks the RBAC objects this controller owns and
	// names the project they were made for.
	ManagedByProjectLabel = "auth.alauda.io/project"
)

// clusterRoleName names the per-project cluster-scoped RBAC objects: a
// ClusterRole and a ClusterRoleBinding of the same name for each project
// role.
func clusterRoleName(project string, role authv1.ProjectRole) string {
	return "acp:project:" + project + ":" + string(role)
}

// namespaceRoleBindingName is the RoleBinding a project role gets in each
// namespace of the project.
func namespaceRoleBindingName(role authv1.ProjectRole) string {
	return "acp:" + string(role)
}

var projectRoles = []authv1.ProjectRole{authv1.ProjectRoleAdmin, authv1.ProjectRoleAuditor}

// heldRoles are the project roles at least one member holds: a role nobody
// holds needs no RBAC objects, and a platform of thousands of projects
// should not carry thousands of empty bindings.
func heldRoles(project *authv1.Project) []authv1.ProjectRole {
	var held []authv1.ProjectRole
	for _, role := range projectRoles {
		for _, member := range project.Spec.Members {
			if member.Role == role {
				held = append(held, role)
				break
			}
		}
	}
	return held
}

func managedLabels(project string) map[string]string {
	return map[string]string{ManagedByProjectLabel: project, "app.kubernetes.io/managed-by": "archon"}
}

// subjects are the RBAC subjects of the members holding role, in a stable
// order so that unchanged membership means unchanged objects.
func subjects(project *authv1.Project, role authv1.ProjectRole) []rbacv1.Subject {
	out := []rbacv1.Subject{}
	for _, member := range project.Spec.Members {
		if member.Role != role {
			continue
		}
		switch member.Kind {
		case authv1.MemberKindServiceAccount:
			out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: member.Name, Namespace: member.Namespace})
		case authv1.MemberKindGroup:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: member.Name})
		default:
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: member.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

// rbacSet holds RBAC objects of the three kinds the controller keeps, each
// keyed as the informers key them: namespace/name, or the name alone for
// cluster-scoped objects.
type rbacSet struct {
	clusterRoles        map[string]*rbacv1.ClusterRole
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	roleBindings        map[string]*rbacv1.RoleBinding
}

// desired returns the RBAC objects project needs, given the names of the
// namespaces labeled as its. Each object is complete as a server-side
// apply request: the controller sends it as it is.
func desired(project *authv1.Project, namespaces []string) rbacSet {
	set := rbacSet{
		clusterRoles:        keyed(desiredClusterRoles(project)),
		clusterRoleBindings: keyed(desiredClusterRoleBindings(project)),
		roleBindings:        map[string]*rbacv1.RoleBinding{},
	}
	for _, namespace := range namespaces {
		for key, binding := range keyed(desiredRoleBindings(project, namespace)) {
			set.roleBindings[key] = binding
		}
	}
	return set
}

func keyed[T metav1.Object](objects []T) map[string]T {
	byKey := make(map[string]T, len(objects))
	for _, obj := range objects {
		byKey[cache.MetaObjectToName(obj).String()] = obj
	}
	return byKey
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
}

// desiredClusterRoles grant access to the project object itself.
func desiredClusterRoles(project *authv1.Project) []*rbacv1.ClusterRole {
	verbs := map[authv1.ProjectRole][]string{
		authv1.ProjectRoleAdmin:   {"get", "watch", "update", "patch", authv1.ManageMembersVerb},
		authv1.ProjectRoleAuditor: {"get", "watch"},
	}
	var roles []*rbacv1.ClusterRole
	for _, role := range heldRoles(project) {
		rules := []rbacv1.PolicyRule{{
			APIGroups:     []string{authv1.GroupName},
			Resources:     []string{"projects"},
			ResourceNames: []string{project.Name},
			Verbs:         verbs[role],
		}}
		if role == authv1.ProjectRoleAdmin {
			// Archon checks that the importer may update the target project.
			rules = append(rules, rbacv1.PolicyRule{
				APIGroups: []string{authv1.GroupName},
				Resources: []string{"namespaceimports"},
				Verbs:     []string{"create"},
			})
		}
		roles = append(roles, &rbacv1.ClusterRole{
			TypeMeta:   typeMeta("ClusterRole"),
			ObjectMeta: metav1.ObjectMeta{Name: clusterRoleName(project.Name, role), Labels: managedLabels(project.Name)},
			Rules:      rules,
		})
	}
	return roles
}

func desiredClusterRoleBindings(project *authv1.Project) []*rbacv1.ClusterRoleBinding {
	var bindings []*rbacv1.ClusterRoleBinding
	for _, role := range heldRoles(project) {
		name := clusterRoleName(project.Name, role)
		bindings = append(bindings, &rbacv1.ClusterRoleBinding{
			TypeMeta:   typeMeta("ClusterRoleBinding"),
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels(project.Name)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   subjects(project, role),
		})
	}
	return bindings
}

// desiredRoleBindings are the bindings of one namespace of the project.
func desiredRoleBindings(project *authv1.Project, namespace string) []*rbacv1.RoleBinding {
	clusterRoles := map[authv1.ProjectRole]string{
		authv1.ProjectRoleAdmin:   authv1.NamespaceAdminClusterRole,
		authv1.ProjectRoleAuditor: authv1.ViewerClusterRole,
	}
	var bindings []*rbacv1.RoleBinding
	for _, role := range heldRoles(project) {
		bindings = append(bindings, &rbacv1.RoleBinding{
			TypeMeta:   typeMeta("RoleBinding"),
			ObjectMeta: metav1.ObjectMeta{Name: namespaceRoleBindingName(role), Namespace: namespace, Labels: managedLabels(project.Name)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRoles[role]},
			Subjects:   subjects(project, role),
		})
	}
	return bindings
}
