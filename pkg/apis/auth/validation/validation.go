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

// Package validation holds the rules a Project must satisfy, reported with
// the field path of every offending value.
package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// MaxDisplayNameLength bounds the cpaas.io/display-name annotation so that it
// fits a table column and a page title.
const MaxDisplayNameLength = 253

var (
	memberKinds = sets.New(auth.MemberKindUser, auth.MemberKindGroup, auth.MemberKindServiceAccount)
	memberRoles = sets.New(auth.ProjectRoleAdmin, auth.ProjectRoleAuditor)
	phases      = sets.New(auth.ProjectActive, auth.ProjectTerminating)
)

// ValidateProjectName checks a project name: a DNS-1123 label, because the
// project name prefixes the names of its namespaces.
func ValidateProjectName(name string, prefix bool) []string {
	return apimachineryvalidation.NameIsDNSLabel(name, prefix)
}

// ValidateProject checks a whole project on create.
func ValidateProject(project *auth.Project) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&project.ObjectMeta, false, ValidateProjectName, field.NewPath("metadata"))
	allErrs = append(allErrs, validateAnnotations(project.Annotations, field.NewPath("metadata", "annotations"))...)
	allErrs = append(allErrs, ValidateProjectSpec(&project.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateProjectUpdate checks a change to a project's metadata and spec.
func ValidateProjectUpdate(project, old *auth.Project) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&project.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateAnnotations(project.Annotations, field.NewPath("metadata", "annotations"))...)
	allErrs = append(allErrs, ValidateProjectSpec(&project.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateProjectStatusUpdate checks a change made through the status subresource.
func ValidateProjectStatusUpdate(project, old *auth.Project) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&project.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateProjectStatus(&project.Status, field.NewPath("status"))...)
	return allErrs
}

func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if name := annotations[auth.DisplayNameAnnotation]; len(name) > MaxDisplayNameLength {
		allErrs = append(allErrs, field.TooLong(fldPath.Key(auth.DisplayNameAnnotation), "", MaxDisplayNameLength))
	}
	return allErrs
}

// ValidateProjectSpec checks clusters and members.
func ValidateProjectSpec(spec *auth.ProjectSpec, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	clusters := sets.New[string]()
	for i, cluster := range spec.Clusters {
		idxPath := fldPath.Child("clusters").Index(i)
		allErrs = append(allErrs, validateClusterName(cluster.Name, idxPath.Child("name"))...)
		if clusters.Has(cluster.Name) {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), cluster.Name))
		}
		clusters.Insert(cluster.Name)
		allErrs = append(allErrs, ValidateQuota(cluster.Quota, idxPath.Child("quota"))...)
	}

	type subject struct {
		kind            auth.MemberKind
		namespace, name string
	}
	members := sets.New[subject]()
	for i, member := range spec.Members {
		idxPath := fldPath.Child("members").Index(i)
		allErrs = append(allErrs, validateMember(&member, idxPath)...)
		key := subject{member.Kind, member.Namespace, member.Name}
		if members.Has(key) {
			allErrs = append(allErrs, field.Duplicate(idxPath, member.Name))
		}
		members.Insert(key)
	}
	return allErrs
}

func validateClusterName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := field.ErrorList{}
	for _, msg := range validation.IsDNS1123Label(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func validateMember(member *auth.ProjectMember, fldPath *field.Path) field.ErrorList {
	allErrs := validateSubject(member.Kind, member.Name, member.Namespace, fldPath)
	if !memberRoles.Has(member.Role) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("role"), member.Role, sets.List(memberRoles)))
	}
	return allErrs
}

var namespaceRoles = sets.New(auth.NamespaceRoleAdmin, auth.NamespaceRoleDeveloper, auth.NamespaceRoleViewer)

// ValidateNamespaceMember checks the subject and role of a namespace member.
func ValidateNamespaceMember(member *auth.NamespaceMember) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&member.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	allErrs = append(allErrs, validateSubject(member.Spec.Kind, member.Spec.Name, member.Spec.Namespace, specPath)...)
	if !namespaceRoles.Has(member.Spec.Role) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("role"), member.Spec.Role, sets.List(namespaceRoles)))
	}
	return allErrs
}

// validateSubject checks a User, Group or ServiceAccount reference.
func validateSubject(kind auth.MemberKind, name, namespace string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	member := auth.ProjectMember{Kind: kind, Name: name, Namespace: namespace}
	if !memberKinds.Has(member.Kind) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("kind"), member.Kind, sets.List(memberKinds)))
	}
	if member.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	}
	switch {
	case member.Kind == auth.MemberKindServiceAccount && member.Namespace == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), "a ServiceAccount member names its namespace"))
	case member.Kind == auth.MemberKindServiceAccount:
		for _, msg := range validation.IsDNS1123Label(member.Namespace) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("namespace"), member.Namespace, msg))
		}
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(member.Name, false) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), member.Name, msg))
		}
	case member.Namespace != "":
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("namespace"), "only ServiceAccount members have a namespace"))
	}
	return allErrs
}

// standardQuotaKeys are the ResourceQuota keys Kubernetes defines; any other
// key is a custom one.
var standardQuotaKeys = sets.New[corev1.ResourceName](
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceStorage, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
	corev1.ResourcePods, corev1.ResourceServices, corev1.ResourceReplicationControllers, corev1.ResourceQuotas,
	corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
	corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
)

// IsStandardQuotaKey reports whether key is one Kubernetes defines for
// ResourceQuotas, including object counts, huge pages and per-storage-class
// keys.
func IsStandardQuotaKey(key corev1.ResourceName) bool {
	name := string(key)
	return standardQuotaKeys.Has(key) ||
		strings.HasPrefix(name, "count/") ||
		strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(name, corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix) ||
		strings.Contains(name, ".storageclass.storage.k8s.io/")
}

// ValidateQuota checks that every key of a quota is a standard quota key or
// a custom key qualified with a domain prefix, and every amount is a
// non-negative quantity.
func ValidateQuota(quota corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for name, quantity := range quota {
		keyPath := fldPath.Key(string(name))
		if !IsStandardQuotaKey(name) {
			msgs := validation.IsQualifiedName(string(name))
			if len(msgs) == 0 && !strings.Contains(string(name), "/") {
				msgs = []string{"a custom quota key must be a qualified name with a domain prefix, such as example.com/gpus"}
			}
			for _, msg := range msgs {
				allErrs = append(allErrs, field.Invalid(keyPath, string(name), msg))
			}
		}
		if quantity.Sign() < 0 {
			allErrs = append(allErrs, field.Invalid(keyPath, quantity.String(), "must be greater than or equal to 0"))
		}
	}
	return allErrs
}

func validateProjectStatus(status *auth.ProjectStatus, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if status.Phase != "" && !phases.Has(status.Phase) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("phase"), status.Phase, sets.List(phases)))
	}
	namespaces := sets.New[string]()
	for i, namespace := range status.Namespaces {
		if namespaces.Has(namespace) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Child("namespaces").Index(i), namespace))
		}
		namespaces.Insert(namespace)
	}
	clusters := sets.New[string]()
	for i, cluster := range status.Clusters {
		idxPath := fldPath.Child("clusters").Index(i)
		allErrs = append(allErrs, validateClusterName(cluster.Name, idxPath.Child("name"))...)
		if clusters.Has(cluster.Name) {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), cluster.Name))
		}
		clusters.Insert(cluster.Name)
		allErrs = append(allErrs, ValidateQuota(cluster.Hard, idxPath.Child("hard"))...)
		allErrs = append(allErrs, ValidateQuota(cluster.Used, idxPath.Child("used"))...)
	}
	return allErrs
}

// ValidateNamespaceImport checks that an import names a project, a cluster
// and a namespace, each a DNS-1123 label.
func ValidateNamespaceImport(imp *auth.NamespaceImport) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&imp.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	for _, f := range []struct {
		name, value string
	}{
		{"project", imp.Spec.Project},
		{"cluster", imp.Spec.Cluster},
		{"namespace", imp.Spec.Namespace},
	} {
		fldPath := specPath.Child(f.name)
		if f.value == "" {
			allErrs = append(allErrs, field.Required(fldPath, ""))
			continue
		}
		for _, msg := range validation.IsDNS1123Label(f.value) {
			allErrs = append(allErrs, field.Invalid(fldPath, f.value, msg))
		}
	}
	return allErrs
}
