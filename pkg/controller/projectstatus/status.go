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

// Package projectstatus keeps Project.status true for the cluster archon
// serves: the project's namespaces, its quota and the sum of its
// namespaces' quotas, and its phase.
package projectstatus

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/quota"
)

// desiredStatus is project's status with this cluster's part recomputed
// from the namespaces labeled with the project and their quotas (used is
// the sum of each namespace's effective quota); the
// entries of other clusters are kept as their archons wrote them.
func desiredStatus(project *authv1.Project, cluster string, namespaces []*corev1.Namespace, quotas []*corev1.ResourceQuota) authv1.ProjectStatus {
	status := *project.Status.DeepCopy()
	status.Phase = authv1.ProjectActive
	if project.DeletionTimestamp != nil {
		status.Phase = authv1.ProjectTerminating
	}

	inProject := map[string]bool{}
	status.Namespaces = []string{}
	for _, namespace := range namespaces {
		inProject[namespace.Name] = true
		status.Namespaces = append(status.Namespaces, namespace.Name)
	}
	sort.Strings(status.Namespaces)

	// Each namespace draws its effective quota: the minimum of its quotas.
	byNamespace := map[string][]*corev1.ResourceQuota{}
	for _, q := range quotas {
		if inProject[q.Namespace] {
			byNamespace[q.Namespace] = append(byNamespace[q.Namespace], q)
		}
	}
	var effective []corev1.ResourceList
	for _, inNamespace := range byNamespace {
		effective = append(effective, quota.Effective(inNamespace))
	}
	used := quota.Sum(effective...)

	var hard corev1.ResourceList
	listed := false
	for _, c := range project.Spec.Clusters {
		if c.Name == cluster {
			hard, listed = c.Quota, true
		}
	}
	var clusters []authv1.ProjectClusterStatus
	for _, c := range status.Clusters {
		if c.Name != cluster {
			clusters = append(clusters, c)
		}
	}
	if listed || len(status.Namespaces) > 0 {
		clusters = append(clusters, authv1.ProjectClusterStatus{Name: cluster, Hard: hard, Used: used})
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
	status.Clusters = clusters
	return status
}
