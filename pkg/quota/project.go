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
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// ProjectQuotas reads the ResourceQuotas of every namespace of project from
// kube-apiserver, by namespace. It reads live rather than from a cache so
// that a quota created a moment ago counts, and reads only the project's
// namespaces: one list of namespaces by label, then one list of quotas per
// namespace, a few at a time.
func ProjectQuotas(ctx context.Context, kube kubernetes.Interface, project string) (map[string][]*corev1.ResourceQuota, error) {
	namespaces, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: authv1.NamespaceProjectLabel + "=" + project})
	if err != nil {
		return nil, err
	}
	var (
		mu          sync.Mutex
		byNamespace = make(map[string][]*corev1.ResourceQuota, len(namespaces.Items))
	)
	group, ctx := errgroup.WithContext(ctx)
	group.SetLimit(parallelReads)
	for _, namespace := range namespaces.Items {
		group.Go(func() error {
			quotas, err := kube.CoreV1().ResourceQuotas(namespace.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			inNamespace := make([]*corev1.ResourceQuota, 0, len(quotas.Items))
			for i := range quotas.Items {
				inNamespace = append(inNamespace, &quotas.Items[i])
			}
			mu.Lock()
			defer mu.Unlock()
			byNamespace[namespace.Name] = inNamespace
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return nil, err
	}
	return byNamespace, nil
}

// parallelReads bounds the quota lists ProjectQuotas has in flight.
const parallelReads = 8

// Use is what a project's namespaces draw: the sum of their effective
// quotas.
func Use(byNamespace map[string][]*corev1.ResourceQuota) corev1.ResourceList {
	effective := make([]corev1.ResourceList, 0, len(byNamespace))
	for _, quotas := range byNamespace {
		effective = append(effective, Effective(quotas))
	}
	return Sum(effective...)
}
