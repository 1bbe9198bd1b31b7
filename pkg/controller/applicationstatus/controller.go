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

// Package applicationstatus keeps the status of every Application
// (app.k8s.io/v1beta1) current: its components, how many are ready, and
// the phase of its computing components.
package applicationstatus

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kubeinformers "k8s.io/client-go/informers"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
)

// Tracked are the kinds of component other than workloads whose objects
// archon watches, by their names and labels only: a fixed set, so that an
// application naming many kinds cannot make archon watch the whole
// cluster, and only kinds every viewer of a namespace may list (the
// status, which viewers read, names the components: Secrets, Roles and
// RoleBindings would tell them what they cannot list). Components of
// other kinds are named in the Ready condition as not tracked.
var Tracked = map[schema.GroupKind]schema.GroupVersionResource{
	{Kind: "Service"}:                                       {Version: "v1", Resource: "services"},
	{Kind: "ConfigMap"}:                                     {Version: "v1", Resource: "configmaps"},
	{Kind: "PersistentVolumeClaim"}:                         {Version: "v1", Resource: "persistentvolumeclaims"},
	{Kind: "ServiceAccount"}:                                {Version: "v1", Resource: "serviceaccounts"},
	{Group: "networking.k8s.io", Kind: "Ingress"}:           {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:     {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: {Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
	{Group: "batch", Kind: "Job"}:                           {Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Kind: "CronJob"}:                       {Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "policy", Kind: "PodDisruptionBudget"}:          {Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
}

// Controller writes application status, one application at a time.
type Controller struct {
	client       dynamic.Interface
	applications cache.SharedIndexInformer

	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	daemonSets   appslisters.DaemonSetLister

	// metadata informs on the Tracked kinds, each from the first
	// application that names it on.
	metadata metadatainformer.SharedInformerFactory
	mu       sync.Mutex
	started  map[schema.GroupKind]cache.SharedIndexInformer
	stop     <-chan struct{}

	queue *keyqueue.Queue
}

// New returns the controller, wired to its informers: applications from
// applications (a dynamic informer factory), workloads from kube, other
// components from metadata; call it before starting them. client writes
// the status.
func New(client dynamic.Interface, applications dynamicinformer.DynamicSharedInformerFactory, kube kubeinformers.SharedInformerFactory,
	metadata metadatainformer.SharedInformerFactory) (*Controller, error) {
	c := &Controller{
		client:       client,
		applications: applications.ForResource(application.Resource).Informer(),
		deployments:  kube.Apps().V1().Deployments().Lister(),
		statefulSets: kube.Apps().V1().StatefulSets().Lister(),
		daemonSets:   kube.Apps().V1().DaemonSets().Lister(),
		metadata:     metadata,
		started:      map[schema.GroupKind]cache.SharedIndexInformer{},
	}
	c.queue = keyqueue.New("application-status", c.sync)
	if err := c.queue.Watch(c.applications, keyOf); err != nil {
		return nil, err
	}
	for _, informer := range []cache.SharedIndexInformer{
		kube.Apps().V1().Deployments().Informer(),
		kube.Apps().V1().StatefulSets().Informer(),
		kube.Apps().V1().DaemonSets().Informer(),
	} {
		if err := c.queue.Watch(informer, c.applicationsOf); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run syncs applications with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.mu.Lock()
	c.stop = ctx.Done()
	c.mu.Unlock()
	c.queue.Run(ctx, workers)
}

func keyOf(obj any) []string {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		return []string{key}
	}
	return nil
}

// applicationsOf leads a component to the applications of its namespace
// whose selector matches its labels.
func (c *Controller) applicationsOf(obj any) []string {
	object, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	apps, err := c.applications.GetIndexer().ByIndex(cache.NamespaceIndex, object.GetNamespace())
	if err != nil {
		return nil
	}
	var keys []string
	for _, obj := range apps {
		app, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if selector, _, err := selectorOf(app); err == nil && selector.Matches(labels.Set(object.GetLabels())) {
			keys = append(keys, keyOf(app)...)
		}
	}
	return keys
}

// selectorOf is an application's selector (nothing when it has none) and
// spec.
func selectorOf(app *unstructured.Unstructured) (labels.Selector, application.Spec, error) {
	spec, err := application.SpecOf(app)
	if err != nil {
		return nil, spec, err
	}
	if spec.Selector == nil {
		return labels.Nothing(), spec, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	return selector, spec, err
}

func (c *Controller) sync(ctx context.Context, key string) error {
	obj, exists, err := c.applications.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	app := obj.(*unstructured.Unstructured)
	selector, spec, err := selectorOf(app)
	if err != nil {
		// The application itself is malformed: say so in its status
		// rather than retrying what cannot succeed.
		return c.write(ctx, app, application.Malformed(app.GetGeneration(), err, application.ConditionsOf(app)))
	}
	var components []application.ComponentStatus
	var untracked []metav1.GroupKind
	pending := false
	for _, kind := range spec.ComponentKinds {
		found, known, synced, err := c.components(schema.GroupKind(kind), app.GetNamespace(), selector)
		if err != nil {
			return err
		}
		switch {
		case !known:
			untracked = append(untracked, kind)
		case !synced:
			pending = true
		}
		components = append(components, found...)
	}
	if pending {
		// A kind's informer has just started: come back once it has.
		c.queue.AddAfter(key, pollSynced)
		return nil
	}
	return c.write(ctx, app, application.Summarize(app.GetGeneration(), components, untracked, application.ConditionsOf(app)))
}

// components lists the components of one kind; known says whether archon
// tracks the kind, synced whether its cache is filled yet.
func (c *Controller) components(kind schema.GroupKind, namespace string, selector labels.Selector) (found []application.ComponentStatus, known, synced bool, err error) {
	switch kind {
	case schema.GroupKind{Group: appsv1.GroupName, Kind: "Deployment"}:
		list, err := c.deployments.Deployments(namespace).List(selector)
		for _, d := range list {
			found = append(found, application.DeploymentComponent(d))
		}
		return found, true, true, err
	case schema.GroupKind{Group: appsv1.GroupName, Kind: "StatefulSet"}:
		list, err := c.statefulSets.StatefulSets(namespace).List(selector)
		for _, s := range list {
			found = append(found, application.StatefulSetComponent(s))
		}
		return found, true, true, err
	case schema.GroupKind{Group: appsv1.GroupName, Kind: "DaemonSet"}:
		list, err := c.daemonSets.DaemonSets(namespace).List(selector)
		for _, d := range list {
			found = append(found, application.DaemonSetComponent(d))
		}
		return found, true, true, err
	}
	informer, err := c.informerFor(kind)
	if err != nil || informer == nil {
		return nil, false, false, err
	}
	if !informer.HasSynced() {
		return nil, true, false, nil
	}
	objects, err := informer.GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return nil, true, false, err
	}
	for _, obj := range objects {
		object, err := meta.Accessor(obj)
		if err == nil && selector.Matches(labels.Set(object.GetLabels())) {
			found = append(found, application.ObjectComponent(kind.Group, kind.Kind, object.GetName()))
		}
	}
	return found, true, true, nil
}

// pollSynced is how soon an application waiting for a new informer is
// synced again.
const pollSynced = 200 * time.Millisecond

// informerFor returns the metadata informer of a Tracked kind, started on
// first use; nil for a kind archon does not track.
func (c *Controller) informerFor(kind schema.GroupKind) (cache.SharedIndexInformer, error) {
	resource, ok := Tracked[kind]
	if !ok {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if informer := c.started[kind]; informer != nil {
		return informer, nil
	}
	informer := c.metadata.ForResource(resource).Informer()
	// Names and labels are all a component needs: annotations (where
	// kubectl apply copies whole objects) and managed fields are not kept.
	if err := informer.SetTransform(keepNamesAndLabels); err != nil {
		return nil, err
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj) },
		UpdateFunc: func(oldObj, newObj any) { c.enqueue(oldObj); c.enqueue(newObj) },
		DeleteFunc: func(obj any) { c.enqueue(obj) },
	}); err != nil {
		return nil, err
	}
	c.started[kind] = informer
	if c.stop != nil {
		c.metadata.Start(c.stop)
	}
	return informer, nil
}

// keepNamesAndLabels strips what the cache of a component does not need.
func keepNamesAndLabels(obj any) (any, error) {
	if object, err := meta.Accessor(obj); err == nil {
		object.SetAnnotations(nil)
		object.SetManagedFields(nil)
	}
	return obj, nil
}

func (c *Controller) enqueue(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	for _, key := range c.applicationsOf(obj) {
		c.queue.Add(key)
	}
}

// write puts status into the application's status, keeping the fields of
// it archon does not own, unless it says that already.
func (c *Controller) write(ctx context.Context, app *unstructured.Unstructured, status application.Status) error {
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return err
	}
	existing, _, _ := unstructured.NestedMap(app.Object, "status")
	merged := make(map[string]any, len(existing)+len(fields))
	for k, v := range existing {
		merged[k] = v
	}
	for _, k := range []string{"observedGeneration", "phase", "componentsReady", "components", "conditions"} {
		delete(merged, k)
	}
	for k, v := range fields {
		merged[k] = v
	}
	if apiequality.Semantic.DeepEqual(existing, merged) {
		return nil
	}
	updated := app.DeepCopy()
	updated.Object["status"] = merged
	_, err = c.client.Resource(application.Resource).Namespace(app.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("application %s changed while its status was written; syncing again: %w", app.GetName(), err)
	case apierrors.IsNotFound(err):
		return nil
	case err == nil:
		klog.FromContext(ctx).V(4).Info("Application status written", "application", klog.KObj(app), "phase", status.Phase)
	}
	return err
}
