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

package projectstatus

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	authlisters "github.com/acp-archon/archon/pkg/generated/listers/auth/v1"
)

// Controller writes project status, one project at a time.
type Controller struct {
	cluster    string
	archon     archonclient.Interface
	projects   authlisters.ProjectLister
	namespaces corelisters.NamespaceLister
	quotas     corelisters.ResourceQuotaLister
	// namespaceInformer is indexed by project label.
	namespaceInformer cache.SharedIndexInformer
	queue             *keyqueue.Queue
}

// New returns the controller, wired to its informers; call it before
// starting them.
func New(cluster string, archon archonclient.Interface, kubeInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) (*Controller, error) {
	projects := archonInformers.Auth().V1().Projects()
	namespaces := kubeInformers.Core().V1().Namespaces()
	quotas := kubeInformers.Core().V1().ResourceQuotas()
	c := &Controller{
		cluster:    cluster,
		archon:     archon,
		projects:   projects.Lister(),
		namespaces: namespaces.Lister(),
		quotas:     quotas.Lister(),

		namespaceInformer: namespaces.Informer(),
	}
	c.queue = keyqueue.New("project-status", c.sync)
	if err := keyqueue.IndexByLabel(c.namespaceInformer, authv1.NamespaceProjectLabel); err != nil {
		return nil, err
	}

	projectOfNamespace := keyqueue.LabelKey(authv1.NamespaceProjectLabel)
	projectOfQuota := func(obj any) []string {
		if quota, ok := obj.(*corev1.ResourceQuota); ok {
			if namespace, err := c.namespaces.Get(quota.Namespace); err == nil {
				return projectOfNamespace(namespace)
			}
		}
		return nil
	}
	for informer, keys := range map[cache.SharedIndexInformer]func(any) []string{
		projects.Informer():   keyqueue.NameKey,
		namespaces.Informer(): projectOfNamespace,
		quotas.Informer():     projectOfQuota,
	} {
		if err := c.queue.Watch(informer, keys); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run writes status until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

func (c *Controller) sync(ctx context.Context, name string) error {
	project, err := c.projects.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	namespaces, err := keyqueue.ByLabel[*corev1.Namespace](c.namespaceInformer, authv1.NamespaceProjectLabel, name)
	if err != nil {
		return err
	}
	var quotas []*corev1.ResourceQuota
	for _, namespace := range namespaces {
		inNamespace, err := c.quotas.ResourceQuotas(namespace.Name).List(labels.Everything())
		if err != nil {
			return err
		}
		quotas = append(quotas, inNamespace...)
	}
	status := desiredStatus(project, c.cluster, namespaces, quotas)
	if apiequality.Semantic.DeepEqual(status, project.Status) {
		return nil
	}
	updated := project.DeepCopy()
	updated.Status = status
	_, err = c.archon.AuthV1().Projects().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		c.queue.Add(name) // the informer brings the newer project shortly
		return nil
	}
	return err
}
