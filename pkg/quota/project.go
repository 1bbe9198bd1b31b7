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
	"k8s.io/client-go/tools/cache"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
)

// Reader reads the ResourceQuotas of a project's namespaces.
type Reader struct {
	kube kubernetes.Interface
	// namespaces is an informer of namespaces indexed by their project
	// label; nil, or not synced yet, reads them live.
	namespaces cache.SharedIndexInformer
}

// NewReader returns a reader that finds a project's namespaces in the
// namespaces informer (nil: live) and reads their quotas live, so that a
// quota created a moment ago counts. Listing namespaces by label makes
// kube-apiserver look at every namespace of the cluster, twice an import;
// a namespace that joined a moment ago and is not in the cache yet is
// counted by the reservation the webhook made for it until the cache has
// it.
func NewReader(kube kubernetes.Interface, namespaces cache.SharedIndexInformer) (*Reader, error) {
	if namespaces != nil {
		if err := keyqueue.IndexByLabel(namespaces, authv1.NamespaceProjectLabel); err != nil {
			return nil, err
		}
	}
	return &Reader{kube: kube, namespaces: namespaces}, nil
}

// ProjectQuotas reads the ResourceQuotas of every namespace of project, by
// namespace, a few lists at a time, and returns them with the
// resourceVersion they were read at. They are at least as fresh as
// notOlderThan, a resourceVersion of ResourceQuotas read before; when it
// is empty, as fresh as a consistent read started now.
//
// kube-apiserver serves a consistent list from its watch cache once the
// cache has caught up with etcd, which for a resource nobody is writing
// takes until etcd's next progress notification (tens of milliseconds on
// a busy cluster). Only the first list waits for that: the others ask
// for the resourceVersion it was served at, which the cache already has,
// so they see everything the first one saw.
func (r *Reader) ProjectQuotas(ctx context.Context, project, notOlderThan string) (map[string][]*corev1.ResourceQuota, string, error) {
	names, err := r.projectNamespaces(ctx, project)
	if err != nil {
		return nil, "", err
	}
	byNamespace := make(map[string][]*corev1.ResourceQuota, len(names))
	if len(names) == 0 {
		return byNamespace, notOlderThan, nil
	}
	if notOlderThan == "" {
		first, err := r.namespaceQuotas(ctx, names[0], "")
		if err != nil {
			return nil, "", err
		}
		byNamespace[names[0]], notOlderThan, names = first.items, first.resourceVersion, names[1:]
	}
	var mu sync.Mutex
	group, ctx := errgroup.WithContext(ctx)
	group.SetLimit(parallelReads)
	for _, name := range names {
		group.Go(func() error {
			listed, err := r.namespaceQuotas(ctx, name, notOlderThan)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			byNamespace[name] = listed.items
			return nil
		})
	}
	if err := group.Wait(); err != nil {
		return nil, "", err
	}
	return byNamespace, notOlderThan, nil
}

// namespaceQuotas is a list of one namespace's quotas.
type namespaceQuotas struct {
	items           []*corev1.ResourceQuota
	resourceVersion string
}

// namespaceQuotas lists the quotas of namespace, consistently when
// notOlderThan is empty.
func (r *Reader) namespaceQuotas(ctx context.Context, namespace, notOlderThan string) (namespaceQuotas, error) {
	options := metav1.ListOptions{}
	if notOlderThan != "" {
		options.ResourceVersion, options.ResourceVersionMatch = notOlderThan, metav1.ResourceVersionMatchNotOlderThan
	}
	quotas, err := r.kube.CoreV1().ResourceQuotas(namespace).List(ctx, options)
	if err != nil {
		return namespaceQuotas{}, err
	}
	items := make([]*corev1.ResourceQuota, 0, len(quotas.Items))
	for i := range quotas.Items {
		items = append(items, &quotas.Items[i])
	}
	return namespaceQuotas{items: items, resourceVersion: quotas.ResourceVersion}, nil
}

func (r *Reader) projectNamespaces(ctx context.Context, project string) ([]string, error) {
	var names []string
	if r.namespaces != nil && r.namespaces.HasSynced() {
		namespaces, err := keyqueue.ByLabel[*corev1.Namespace](r.namespaces, authv1.NamespaceProjectLabel, project)
		if err != nil {
			return nil, err
		}
		for _, namespace := range namespaces {
			names = append(names, namespace.Name)
		}
		return names, nil
	}
	namespaces, err := r.kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: authv1.NamespaceProjectLabel + "=" + project})
	if err != nil {
		return nil, err
	}
	for _, namespace := range namespaces.Items {
		names = append(names, namespace.Name)
	}
	return names, nil
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
