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
	"strings"

	corev1 "k8s.io/api/core/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/quota"
)

// namespaceRules are the checks of a namespace labeled with a project.
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
// quotas holds the other quotas of every namespace of the project in this
// cluster, by namespace; a namespace draws its effective quota (the
// per-key minimum of its quotas) from the project.
func quotaRules(reviewed *corev1.ResourceQuota, project *authv1.Project, cluster string, quotas map[string][]*corev1.ResourceQuota) []string {
	limits := projectCluster(project, cluster)
	if limits == nil {
		return []string{fmt.Sprintf("project %s does not include cluster %s", project.Name, cluster)}
	}
	var used []corev1.ResourceList
	for namespace, inNamespace := range quotas {
		if namespace != reviewed.Namespace {
			used = append(used, quota.Effective(inNamespace))
		}
	}
	effective := quota.Effective(append(quotas[reviewed.Namespace], reviewed))
	request := corev1.ResourceList{}
	for key := range reviewed.Spec.Hard {
		request[key] = effective[key]
	}
	return quota.Problems(project.Name, cluster, limits.Quota, quota.Sum(used...), request)
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
