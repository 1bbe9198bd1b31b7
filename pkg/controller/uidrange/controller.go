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

// Package uidrange gives every namespace labeled security.cpaas.io/
// enabled=true a UID/GID range of its own, and frees it when the label
// goes: the namespaces' annotations are the record, so a restart or
// another leader reads the ranges where they are.
package uidrange

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	"github.com/acp-archon/archon/pkg/uidrange"
)

// ErrExhausted says every block is handed out.
var ErrExhausted = errors.New("every UID/GID range is handed out")

// Controller hands out and frees ranges, one namespace at a time.
type Controller struct {
	kube       kubernetes.Interface
	namespaces corelisters.NamespaceLister
	queue      *keyqueue.Queue

	// written are the ranges written and not yet seen in the informer:
	// they are taken, whatever the informer says.
	mu      sync.Mutex
	written map[string]uidrange.Range
}

// New returns the controller, wired to the namespaces of kube (call it
// before starting them); kube writes the annotations.
func New(kube kubernetes.Interface, informers kubeinformers.SharedInformerFactory) (*Controller, error) {
	namespaces := informers.Core().V1().Namespaces()
	c := &Controller{kube: kube, namespaces: namespaces.Lister(), written: map[string]uidrange.Range{}}
	c.queue = keyqueue.New("uid-ranges", c.sync)
	if err := c.queue.Watch(namespaces.Informer(), keyqueue.NameKey); err != nil {
		return nil, err
	}
	return c, nil
}

// Run hands out ranges until ctx is done. One worker: allocations must
// see each other.
func (c *Controller) Run(ctx context.Context, _ int) { c.queue.Run(ctx, 1) }

func (c *Controller) sync(ctx context.Context, name string) error {
	namespace, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return nil
	}
	if err != nil {
		return err
	}
	_, has := namespace.Annotations[uidrange.Annotation]
	switch enabled := uidrange.Enabled(namespace); {
	case enabled && has:
		c.forget(name) // the informer shows it now
		return nil
	case !enabled && has:
		return c.annotate(ctx, namespace, nil)
	case !enabled:
		return nil
	}
	r, err := c.free(name)
	if err != nil {
		return err
	}
	value := r.String()
	if err := c.annotate(ctx, namespace, &value); err != nil {
		return err
	}
	c.mu.Lock()
	c.written[name] = r
	c.mu.Unlock()
	klog.FromContext(ctx).V(2).Info("UID range handed out", "namespace", name, "range", value)
	return nil
}

// free finds the lowest block no namespace but name holds.
func (c *Controller) free(name string) (uidrange.Range, error) {
	namespaces, err := c.namespaces.List(labels.Everything())
	if err != nil {
		return uidrange.Range{}, err
	}
	var taken []uidrange.Range
	for _, ns := range namespaces {
		if r, ok := uidrange.Of(ns); ok && ns.Name != name {
			taken = append(taken, r)
		}
	}
	c.mu.Lock()
	for other, r := range c.written {
		if other != name {
			taken = append(taken, r)
		}
	}
	c.mu.Unlock()
	r, ok := uidrange.Free(taken)
	if !ok {
		return r, ErrExhausted
	}
	return r, nil
}

func (c *Controller) forget(name string) {
	c.mu.Lock()
	delete(c.written, name)
	c.mu.Unlock()
}

// annotate writes (value) or removes (nil) the range annotation at the
// version read.
func (c *Controller) annotate(ctx context.Context, namespace *corev1.Namespace, value *string) error {
	var annotation any
	if value != nil {
		annotation = *value
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": namespace.ResourceVersion,
		"annotations": map[string]any{uidrange.Annotation: annotation}}})
	if err != nil {
		return err
	}
	_, err = c.kube.CoreV1().Namespaces().Patch(ctx, namespace.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
