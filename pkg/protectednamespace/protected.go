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

// Package protectednamespace says which namespaces never join a project:
// the cluster's own (kube-*, default), archon's, those an operator lists
// and those labeled auth.alauda.io/protected=true. Whoever may manage a
// project gets rights in its namespaces, so a protected namespace in a
// project would hand its secrets, and the identities that live there, to
// the project's administrators.
package protectednamespace

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// ArchonNamespace is the namespace archon runs in: its ServiceAccount may
// create RBAC bindings, so nobody but cluster administrators may work there.
const ArchonNamespace = "archon-system"

// Set is the protected namespaces of a cluster.
type Set struct {
	names sets.Set[string]
}

// New returns the namespaces protected always plus those named.
func New(names ...string) Set {
	return Set{names: sets.New(names...).Insert(corev1.NamespaceDefault, ArchonNamespace)}
}

// ByName says whether the name alone protects a namespace: it can be
// answered before anything about the namespace is read.
func (s Set) ByName(name string) bool {
	return strings.HasPrefix(name, "kube-") || s.names.Has(name)
}

// Has says whether namespace is protected, by name or by label.
func (s Set) Has(namespace *corev1.Namespace) bool {
	return s.ByName(namespace.Name) || namespace.Labels[authv1.ProtectedNamespaceLabel] == "true"
}

// Refusal says why namespace cannot join a project.
func Refusal(namespace string) string {
	return fmt.Sprintf("namespace %s is protected (kube-*, default, %s, --protected-namespaces or label %s=true) and cannot join a project",
		namespace, ArchonNamespace, authv1.ProtectedNamespaceLabel)
}
