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

// Package keyqueue is the loop archon's controllers share: object keys in a
// rate-limited work queue, handed by a few workers to a sync function that
// makes the world match the key's desired state.
package keyqueue

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// SyncFunc reconciles one key; an error retries it with backoff.
type SyncFunc func(ctx context.Context, key string) error

// Queue feeds keys to a SyncFunc. Each Run has a work queue of its own, so
// a controller stopped (a replica losing the lease) runs again as new when
// Run is called again; keys added while no Run is going are dropped, and
// Run starts from every key the watched informers hold instead.
type Queue struct {
	name    string
	sync    SyncFunc
	sources []source

	mu sync.RWMutex
	// queue is the running Run's work queue; nil between runs.
	queue workqueue.TypedRateLimitingInterface[string]
}

// source is an informer whose objects lead to keys.
type source struct {
	informer cache.SharedIndexInformer
	keys     func(obj any) []string
}

// New returns a queue named after its controller.
func New(name string, sync SyncFunc) *Queue {
	return &Queue{name: name, sync: sync}
}

// Add queues a key.
func (q *Queue) Add(key string) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.queue != nil {
		q.queue.Add(key)
	}
}

// AddAfter queues a key once delay has passed; a key already waiting keeps
// the earlier time, so a burst of AddAfter calls queues it once.
func (q *Queue) AddAfter(key string, delay time.Duration) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.queue != nil {
		q.queue.AddAfter(key, delay)
	}
}

// Watch queues the keys enqueue derives from every object the informer
// adds, changes (old and new) or deletes; Run waits for its cache and
// starts from the keys of all its objects.
func (q *Queue) Watch(informer cache.SharedIndexInformer, keys func(obj any) []string) error {
	enqueue := func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		for _, key := range keys(obj) {
			q.Add(key)
		}
	}
	q.sources = append(q.sources, source{informer: informer, keys: keys})
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(oldObj, newObj any) { enqueue(oldObj); enqueue(newObj) },
		DeleteFunc: enqueue,
	})
	return err
}

// Run waits for the watched caches, then syncs keys with workers until ctx
// is done, starting from every key the caches lead to.
func (q *Queue) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	logger := klog.FromContext(ctx).WithValues("controller", q.name)
	synced := make([]cache.InformerSynced, 0, len(q.sources))
	for _, s := range q.sources {
		synced = append(synced, s.informer.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: q.name})
	q.mu.Lock()
	if q.queue != nil {
		q.mu.Unlock()
		queue.ShutDown()
		utilruntime.HandleError(fmt.Errorf("%s: Run called while it runs", q.name))
		return
	}
	q.queue = queue
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.queue = nil
		q.mu.Unlock()
		queue.ShutDown()
	}()
	// Events before this run went nowhere: start from everything.
	for _, s := range q.sources {
		for _, obj := range s.informer.GetStore().List() {
			for _, key := range s.keys(obj) {
				queue.Add(key)
			}
		}
	}

	logger.Info("Controller started", "workers", workers)
	ctx = klog.NewContext(ctx, logger)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for q.processNext(ctx, queue) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	logger.Info("Controller stopped")
}

// processNext syncs one key; it returns false once the queue shuts down.
func (q *Queue) processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	if err := q.sync(ctx, key); err != nil {
		utilruntime.HandleError(fmt.Errorf("%s: syncing %q: %w", q.name, key, err))
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	return true
}

// NameKey leads an object to its name: the key of a controller of
// cluster-scoped objects (projects) watching those objects.
func NameKey(obj any) []string {
	if object, ok := obj.(metav1.Object); ok {
		return []string{object.GetName()}
	}
	return nil
}

// NamespaceKey leads an object to its namespace, and a Namespace to its
// own name: the key of a controller of per-namespace state.
func NamespaceKey(obj any) []string {
	object, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	if object.GetNamespace() == "" {
		return []string{object.GetName()} // a Namespace
	}
	return []string{object.GetNamespace()}
}

// LabelKey returns a key function leading an object to the value of its
// label, and objects without it nowhere.
func LabelKey(label string) func(obj any) []string {
	return func(obj any) []string {
		if object, ok := obj.(metav1.Object); ok && object.GetLabels()[label] != "" {
			return []string{object.GetLabels()[label]}
		}
		return nil
	}
}

// IndexByLabel indexes the informer's objects by the value of label, once
// however many controllers ask, so that ByLabel finds them without a scan.
func IndexByLabel(informer cache.SharedIndexInformer, label string) error {
	name := "label:" + label
	if _, exists := informer.GetIndexer().GetIndexers()[name]; exists {
		return nil
	}
	return informer.AddIndexers(cache.Indexers{name: func(obj any) ([]string, error) {
		object, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		if value := object.GetLabels()[label]; value != "" {
			return []string{value}, nil
		}
		return nil, nil
	}})
}

// ByLabel returns the informer's objects whose label has value; the
// informer must have been indexed with IndexByLabel.
func ByLabel[T any](informer cache.SharedIndexInformer, label, value string) ([]T, error) {
	objects, err := informer.GetIndexer().ByIndex("label:"+label, value)
	if err != nil {
		return nil, err
	}
	typed := make([]T, 0, len(objects))
	for _, obj := range objects {
		if t, ok := obj.(T); ok {
			typed = append(typed, t)
		}
	}
	return typed, nil
}
