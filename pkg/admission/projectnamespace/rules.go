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

// Package projectnamespace holds the platform's rules for namespaces that
// belong to a project and for the ResourceQuotas in them, and serves them
// to kube-apiserver as a validating admission webhook.
package projectnamespace

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// namespaceRules are the checks of a namespace labelled with a project.
// project is nil when the named project does not exist; old is nil on
// create.
func namespaceRules(namespace, old *corev1.Namespace, project *authv1.Project, cluster string) []string {
	name := namespace.Labels[authv1.NamespaceProjectLabel]
	if old != nil {
		if previous := old.Labels[authv1.NamespaceProjectLabel]; previous != "" && previous != name {
			return []string{fmt.Sprintf("namespace %s belongs to project %s: release it first (kubectl label namespace %s %s-), then import it into project %s",
				namespace.Name, previous, namespace.Name, authv1.NamespaceProjectLabel, name)}
		}
	}
	if project == nil {
		return []string{fmt.Sprintf("label %s=%s names a project that does not exist", authv1.NamespaceProjectLabel, name)}
	}
	var problems []string
	if old == nil && !strings.HasPrefix(namespace.Name, name+"-") {
		problems = append(problems, fmt.Sprintf("namespaces created for project %s must be named %s-<name>; %q is not", name, name, namespace.Name))
	}
	if projectCluster(project, cluster) == nil {
		problems = append(problems, fmt.Sprintf("project %s does not include cluster %s (its clusters: %s)", name, cluster, strings.Join(clusterNames(project), ", ")))
	}
	return problems
}

// quotaRules are the checks of a ResourceQuota in a namespace of project.
// others are the other quotas of the project's namespaces in this cluster.
func quotaRules(quota *corev1.ResourceQuota, project *authv1.Project, cluster string, others []*corev1.ResourceQuota) []string {
	// Kubernetes' own validation has already refused malformed keys.
	var problems []string
	keys := sortedKeys(quota.Spec.Hard)
	limits := projectCluster(project, cluster)
	if limits == nil {
		return append(problems, fmt.Sprintf("project %s does not include cluster %s", project.Name, cluster))
	}
	for _, key := range keys {
		limit, limited := limits.Quota[key]
		if !limited {
			continue
		}
		used := resource.Quantity{}
		for _, other := range others {
			if amount, ok := other.Spec.Hard[key]; ok {
				used.Add(amount)
			}
		}
		left := limit.DeepCopy()
		left.Sub(used)
		requested := quota.Spec.Hard[key]
		switch {
		case left.Sign() <= 0:
			problems = append(problems, fmt.Sprintf("%s: project %s has none left in cluster %s (quota %s, used %s)",
				key, project.Name, cluster, limit.String(), used.String()))
		case requested.Cmp(left) > 0:
			problems = append(problems, fmt.Sprintf("%s: requested %s but project %s has %s left in cluster %s (quota %s, used %s)",
				key, requested.String(), project.Name, left.String(), cluster, limit.String(), used.String()))
		}
	}
	return problems
}

func projectCluster(project *authv1.Project, cluster string) *authv1.ProjectCluster {
	for i := range project.Spec.Clusters {
		if project.Spec.Clusters[i].Name == cluster {
			return &project.Spec.Clusters[i]
		}
	}
	return nil
}

func clusterNames(project *authv1.Project) []string {
	names := []string{}
	for _, c := range project.Spec.Clusters {
		names = append(names, c.Name)
	}
	return names
}

func sortedKeys(list corev1.ResourceList) []corev1.ResourceName {
	keys := make([]corev1.ResourceName, 0, len(list))
	for key := range list {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
