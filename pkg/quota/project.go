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

package quota

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// ProjectQuotas reads the ResourceQuotas of every namespace of project from
// kube-apiserver, by namespace. It reads live rather than from a cache so
// that a quota created a moment ago counts, and in two requests however
// many namespaces the project has.
func ProjectQuotas(ctx context.Context, kube kubernetes.Interface, project string) (map[string][]*corev1.ResourceQuota, error) {
	namespaces, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: authv1.NamespaceProjectLabel + "=" + project})
	if err != nil {
		return nil, err
	}
	byNamespace := make(map[string][]*corev1.ResourceQuota, len(namespaces.Items))
	for _, namespace := range namespaces.Items {
		byNamespace[namespace.Name] = nil
	}
	quotas, err := kube.CoreV1().ResourceQuotas(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range quotas.Items {
		q := &quotas.Items[i]
		if inProject, ok := byNamespace[q.Namespace]; ok {
			byNamespace[q.Namespace] = append(inProject, q)
		}
	}
	return byNamespace, nil
}

// Use is what a project's namespaces draw: the sum of their effective
// quotas.
func Use(byNamespace map[string][]*corev1.ResourceQuota) corev1.ResourceList {
	effective := make([]corev1.ResourceList, 0, len(byNamespace))
	for _, quotas := range byNamespace {
		effective = append(effective, Effective(quotas))
	}
	return Sum(effective...)
}
