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

package auth

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations a Project carries for people rather than for the platform.
const (
	DisplayNameAnnotation = "cpaas.io/display-name"
	DescriptionAnnotation = "cpaas.io/description"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Project is a tenant: it owns namespaces and the quota they draw from in
// each cluster it spans, and lists the people who run it.
type Project struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ProjectSpec
	Status ProjectStatus
}

// ProjectSpec is what the project's owners ask for.
type ProjectSpec struct {
	Clusters []ProjectCluster
	Members  []ProjectMember
}

// ProjectCluster is one cluster the project may place namespaces in, and the
// quota its namespaces there share.
type ProjectCluster struct {
	Name  string
	Quota corev1.ResourceList
}

// MemberKind names the kind of subject a project member is.
type MemberKind string

// The kinds of subject a project member can be.
const (
	MemberKindUser           MemberKind = "User"
	MemberKindGroup          MemberKind = "Group"
	MemberKindServiceAccount MemberKind = "ServiceAccount"
)

// ProjectRole is the role a member holds in the project.
type ProjectRole string

// The roles a project member can hold.
const (
	ProjectRoleAdmin   ProjectRole = "project-admin"
	ProjectRoleAuditor ProjectRole = "project-auditor"
)

// ProjectMember grants one subject a role in the project.
type ProjectMember struct {
	Kind MemberKind
	Name string
	// Namespace is the ServiceAccount's namespace; only ServiceAccounts have one.
	Namespace string
	Role      ProjectRole
}

// ProjectPhase is where a project is in its life.
type ProjectPhase string

// The phases of a project's life.
const (
	ProjectActive      ProjectPhase = "Active"
	ProjectTerminating ProjectPhase = "Terminating"
)

// ProjectStatus is what the platform observes about the project.
type ProjectStatus struct {
	Phase      ProjectPhase
	Namespaces []string
	Clusters   []ProjectClusterStatus
}

// ProjectClusterStatus is the project's quota use in one cluster.
type ProjectClusterStatus struct {
	Name string
	Hard corev1.ResourceList
	Used corev1.ResourceList
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ProjectList is a list of Projects.
type ProjectList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Project
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceImport is the record of bringing an existing namespace into a
// project. Creating one performs the import.
type NamespaceImport struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   NamespaceImportSpec
	Status NamespaceImportStatus
}

// NamespaceImportSpec names the namespace and where it goes.
type NamespaceImportSpec struct {
	Project   string
	Cluster   string
	Namespace string
}

// NamespaceImportPhase is the outcome of an import.
type NamespaceImportPhase string

// The phases of a namespace import.
const (
	NamespaceImportImporting NamespaceImportPhase = "Importing"
	NamespaceImportSucceeded NamespaceImportPhase = "Succeeded"
	NamespaceImportFailed    NamespaceImportPhase = "Failed"
)

// NamespaceImportStatus is what the import did.
type NamespaceImportStatus struct {
	Phase      NamespaceImportPhase
	Conditions []metav1.Condition
	Quota      corev1.ResourceList
	LimitRange string
	Warnings   []string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceImportList is a list of NamespaceImports.
type NamespaceImportList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []NamespaceImport
}

// NamespaceRole is the role a member holds in one namespace.
type NamespaceRole string

// The roles a member can hold in one namespace.
const (
	NamespaceRoleAdmin     NamespaceRole = "namespace-admin"
	NamespaceRoleDeveloper NamespaceRole = "developer"
	NamespaceRoleViewer    NamespaceRole = "viewer"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceMember grants a member of the namespace's project a role in the
// namespace. It is served from a labeled RoleBinding.
type NamespaceMember struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec NamespaceMemberSpec
}

// NamespaceMemberSpec names the subject and its role.
type NamespaceMemberSpec struct {
	Kind      MemberKind
	Name      string
	Namespace string
	Role      NamespaceRole
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceMemberList is a list of NamespaceMembers.
type NamespaceMemberList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []NamespaceMember
}
