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

package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations a Project carries for people rather than for the platform.
const (
	// DisplayNameAnnotation holds the project's human-readable name.
	DisplayNameAnnotation = "cpaas.io/display-name"
	// DescriptionAnnotation holds a free-text description of the project.
	DescriptionAnnotation = "cpaas.io/description"
)

const (
	// NamespaceProjectLabel on a namespace names the project it belongs to.
	NamespaceProjectLabel = "cpaas.io/project"
	// ManageMembersVerb is the RBAC verb on projects that allows changing
	// spec.members.
	ManageMembersVerb = "manage-members"
	// ManageClustersVerb is the RBAC verb on projects that allows changing
	// spec.clusters, the clusters and quota a project may use. Only
	// platform administrators hold it: project administrators manage
	// members, not their own quota.
	ManageClustersVerb = "manage-clusters"
	// ProtectedNamespaceLabel set to "true" on a namespace keeps it out of
	// every project, as kube-* and archon's own namespaces always are.
	ProtectedNamespaceLabel = "auth.alauda.io/protected"
	// NamespaceMemberLabel marks the RoleBindings that are NamespaceMembers.
	NamespaceMemberLabel = "auth.alauda.io/namespace-member"
	// ImportRequesterAnnotation on a NamespaceImport records who asked for
	// it (archon writes it): an import archon is interrupted in is finished
	// only if they still may.
	ImportRequesterAnnotation = "auth.alauda.io/requested-by"
	// ProjectRBACFinalizer holds a deleted project until archon has removed
	// the RBAC its members had, so that a project made again under the
	// same name never inherits the old members' rights.
	ProjectRBACFinalizer = "auth.alauda.io/project-rbac"
)

// The ClusterRoles archon binds project and namespace members to, shipped
// in artifacts/roles.yaml: the project RBAC controller and the
// NamespaceMember storage name them here, so a renamed role cannot leave
// one of them binding a role that no longer exists.
const (
	// NamespaceAdminClusterRole runs a namespace: project-admins and
	// namespace-admin members hold it.
	NamespaceAdminClusterRole = "acp:namespace-admin"
	// DeveloperClusterRole deploys and changes workloads in a namespace.
	DeveloperClusterRole = "acp:developer"
	// ViewerClusterRole reads a namespace: project-auditors and viewer
	// members hold it.
	ViewerClusterRole = "acp:viewer"
)

// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Project is a tenant of the platform. It owns namespaces, the quota those
// namespaces share in each cluster the project spans, and the list of people
// who run it. Its display name and description live in the annotations
// cpaas.io/display-name and cpaas.io/description.
type Project struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The name is a DNS-1123 label of at most 63
	// characters; namespaces of the project are named <project>-<name>.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the project's owners ask for.
	// +optional
	Spec ProjectSpec `json:"spec,omitempty"`
	// Status is what the platform observes about the project.
	// +optional
	Status ProjectStatus `json:"status,omitempty"`
}

// ProjectSpec is what the project's owners ask for.
type ProjectSpec struct {
	// Clusters the project may place namespaces in, each with the quota its
	// namespaces there share. Cluster names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ProjectCluster `json:"clusters,omitempty"`
	// Members of the project and the role each holds.
	// +optional
	// +listType=atomic
	Members []ProjectMember `json:"members,omitempty"`
}

// ProjectCluster is one cluster the project may place namespaces in.
type ProjectCluster struct {
	// Name of the cluster, a DNS-1123 label.
	Name string `json:"name"`
	// Quota the project's namespaces in this cluster share, keyed like a
	// ResourceQuota's hard limits (cpu, requests.memory, pods, or a custom
	// qualified name).
	// +optional
	Quota corev1.ResourceList `json:"quota,omitempty"`
}

// MemberKind names the kind of subject a project member is.
// +enum
type MemberKind string

// The kinds of subject a project member can be.
const (
	MemberKindUser           MemberKind = "User"
	MemberKindGroup          MemberKind = "Group"
	MemberKindServiceAccount MemberKind = "ServiceAccount"
)

// ProjectRole is the role a member holds in the project.
// +enum
type ProjectRole string

const (
	// ProjectRoleAdmin runs the project: its namespaces, quota and members.
	ProjectRoleAdmin ProjectRole = "project-admin"
	// ProjectRoleAuditor sees everything in the project and changes nothing.
	ProjectRoleAuditor ProjectRole = "project-auditor"
)

// ProjectMember grants one subject a role in the project.
type ProjectMember struct {
	// Kind of subject: User, Group or ServiceAccount. Defaults to User.
	// +optional
	Kind MemberKind `json:"kind,omitempty"`
	// Name of the user, group or ServiceAccount.
	Name string `json:"name"`
	// Namespace of the ServiceAccount; set for ServiceAccounts only.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Role the member holds: project-admin or project-auditor.
	Role ProjectRole `json:"role"`
}

// ProjectPhase is where a project is in its life.
// +enum
type ProjectPhase string

const (
	// ProjectActive projects accept namespaces and members.
	ProjectActive ProjectPhase = "Active"
	// ProjectTerminating projects are being deleted.
	ProjectTerminating ProjectPhase = "Terminating"
)

// ProjectStatus is what the platform observes about the project.
type ProjectStatus struct {
	// Phase of the project: Active or Terminating.
	// +optional
	Phase ProjectPhase `json:"phase,omitempty"`
	// Namespaces that belong to the project.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`
	// Clusters holds the project's quota and its use in each cluster.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ProjectClusterStatus `json:"clusters,omitempty"`
}

// ProjectClusterStatus is the project's quota use in one cluster.
type ProjectClusterStatus struct {
	// Name of the cluster.
	Name string `json:"name"`
	// Hard is the project's quota in the cluster.
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// Used is the sum of the quotas of the project's namespaces in the cluster.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ProjectList is a list of Projects.
type ProjectList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of Projects.
	Items []Project `json:"items"`
}

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=create,get,list,watch,delete
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceImport is the record of bringing an existing namespace into a
// project. Creating one performs the import and returns its outcome in the
// status: the namespace's ResourceQuotas merged into one named default
// (per-key minimum), its single LimitRange copied to default, and the
// namespace labeled cpaas.io/project. A failed import changes nothing.
// Records cannot be updated.
type NamespaceImport struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the namespace and the project it joins.
	Spec NamespaceImportSpec `json:"spec"`
	// Status is the outcome of the import.
	// +optional
	Status NamespaceImportStatus `json:"status,omitempty"`
}

// NamespaceImportSpec names the namespace and where it goes.
type NamespaceImportSpec struct {
	// Project the namespace joins.
	Project string `json:"project"`
	// Cluster the namespace is in; the project must include it.
	Cluster string `json:"cluster"`
	// Namespace to import; it must exist and belong to no project.
	Namespace string `json:"namespace"`
}

// NamespaceImportPhase is the outcome of an import.
// +enum
type NamespaceImportPhase string

const (
	// NamespaceImportImporting imports are under way: the record is written
	// before the namespace changes, so that an import archon is
	// interrupted in is found and finished.
	NamespaceImportImporting NamespaceImportPhase = "Importing"
	// NamespaceImportSucceeded imports changed the namespace as described.
	NamespaceImportSucceeded NamespaceImportPhase = "Succeeded"
	// NamespaceImportFailed imports changed nothing; the Imported condition
	// says why.
	NamespaceImportFailed NamespaceImportPhase = "Failed"
)

// NamespaceImportConditionImported is the condition type telling whether
// and why not the namespace was imported.
const NamespaceImportConditionImported = "Imported"

// NamespaceImportStatus is what the import did.
type NamespaceImportStatus struct {
	// Phase is Succeeded or Failed; Importing while under way.
	// +optional
	Phase NamespaceImportPhase `json:"phase,omitempty"`
	// Conditions hold the Imported condition with the reason of a failure.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Quota is the hard limit of the merged ResourceQuota named default.
	// +optional
	Quota corev1.ResourceList `json:"quota,omitempty"`
	// LimitRange is the name of the LimitRange copied to default, if any.
	// +optional
	LimitRange string `json:"limitRange,omitempty"`
	// Warnings list what is left for people to do, such as original quotas
	// that are safe to delete.
	// +optional
	// +listType=atomic
	Warnings []string `json:"warnings,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceImportList is a list of NamespaceImports.
type NamespaceImportList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of NamespaceImports.
	Items []NamespaceImport `json:"items"`
}

// NamespaceRole is the role a member holds in one namespace.
// +enum
type NamespaceRole string

const (
	// NamespaceRoleAdmin runs the namespace (ClusterRole acp:namespace-admin).
	NamespaceRoleAdmin NamespaceRole = "namespace-admin"
	// NamespaceRoleDeveloper deploys and changes workloads (acp:developer).
	NamespaceRoleDeveloper NamespaceRole = "developer"
	// NamespaceRoleViewer reads (acp:viewer).
	NamespaceRoleViewer NamespaceRole = "viewer"
)

// +genclient
// +genclient:onlyVerbs=create,get,list,watch,delete
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceMember grants a member of the namespace's project a role in the
// namespace. Archon stores it as a RoleBinding labeled
// auth.alauda.io/namespace-member, created with the caller's own
// permissions, so nobody grants more than they hold. Only members of the
// namespace's project can be added.
type NamespaceMember struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; the name is also the RoleBinding's.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec names the subject and its role.
	Spec NamespaceMemberSpec `json:"spec"`
}

// NamespaceMemberSpec names the subject and its role.
type NamespaceMemberSpec struct {
	// Kind of subject: User, Group or ServiceAccount. Defaults to User.
	// +optional
	Kind MemberKind `json:"kind,omitempty"`
	// Name of the user, group or ServiceAccount.
	Name string `json:"name"`
	// Namespace of the ServiceAccount; set for ServiceAccounts only.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Role in the namespace: namespace-admin, developer or viewer.
	Role NamespaceRole `json:"role"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceMemberList is a list of NamespaceMembers.
type NamespaceMemberList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items is the list of NamespaceMembers.
	Items []NamespaceMember `json:"items"`
}
