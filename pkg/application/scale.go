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

package application

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
)

// StoppedReplicasAnnotation remembers on a stopped application the
// replicas its workloads had, as JSON: {"<Kind>/<name>": replicas}.
const StoppedReplicasAnnotation = "app.alauda.io/stopped-replicas"

// Scaled is a workload a start or a stop scaled.
type Scaled struct {
	Kind, Name string
	From, To   int32
}

// scalable are the kinds of component a stop scales to 0.
var scalable = map[schema.GroupKind]schema.GroupVersionResource{
	{Group: "apps", Kind: "Deployment"}:  {Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Kind: "StatefulSet"}: {Group: "apps", Version: "v1", Resource: "statefulsets"},
}

// scaler scales an application's workloads through their scale
// subresource with the client it is given: the caller's, so that RBAC
// decides.
type scaler struct {
	client    dynamic.Interface
	namespace string
	dryRun    bool
	// done are the workloads scaled so far, undone on a refusal.
	done []Scaled
}

func (s *scaler) options() metav1.UpdateOptions {
	if s.dryRun {
		return metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}
	}
	return metav1.UpdateOptions{}
}

// replicas reads a workload's scale.
func (s *scaler) replicas(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, int32, error) {
	resource := scalable[obj.GroupVersionKind().GroupKind()]
	scale, err := s.client.Resource(resource).Namespace(s.namespace).Get(ctx, obj.GetName(), metav1.GetOptions{}, "scale")
	if err != nil {
		return nil, 0, err
	}
	replicas, _, _ := unstructured.NestedInt64(scale.Object, "spec", "replicas")
	return scale, int32(replicas), nil
}

// scale sets a workload's replicas to to.
func (s *scaler) scale(ctx context.Context, obj, scale *unstructured.Unstructured, from, to int32) error {
	resource := scalable[obj.GroupVersionKind().GroupKind()]
	scale = scale.DeepCopy()
	if err := unstructured.SetNestedField(scale.Object, int64(to), "spec", "replicas"); err != nil {
		return err
	}
	if _, err := s.client.Resource(resource).Namespace(s.namespace).Update(ctx, scale, s.options(), "scale"); err != nil {
		return err
	}
	s.done = append(s.done, Scaled{Kind: obj.GetKind(), Name: obj.GetName(), From: from, To: to})
	return nil
}

// undo scales back what was scaled, after a refusal: the application is
// left as it was, as far as the caller may still write it.
func (s *scaler) undo(ctx context.Context) {
	for _, done := range s.done {
		resource := scalable[schema.GroupKind{Group: "apps", Kind: done.Kind}]
		err := func() error {
			scale, err := s.client.Resource(resource).Namespace(s.namespace).Get(ctx, done.Name, metav1.GetOptions{}, "scale")
			if err != nil {
				return err
			}
			if err := unstructured.SetNestedField(scale.Object, int64(done.From), "spec", "replicas"); err != nil {
				return err
			}
			_, err = s.client.Resource(resource).Namespace(s.namespace).Update(ctx, scale, s.options(), "scale")
			return err
		}()
		if err != nil {
			klog.FromContext(ctx).Error(err, "Scaling a workload back after a refusal failed", "kind", done.Kind, "name", done.Name, "replicas", done.From)
		}
	}
}

func workloadKey(obj *unstructured.Unstructured) string { return obj.GetKind() + "/" + obj.GetName() }

// Remembered reads the replicas a stopped application remembers.
func Remembered(app *unstructured.Unstructured) (map[string]int32, error) {
	remembered := map[string]int32{}
	raw, ok := app.GetAnnotations()[StoppedReplicasAnnotation]
	if !ok {
		return remembered, nil
	}
	if err := json.Unmarshal([]byte(raw), &remembered); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: annotation %s is not {\"<Kind>/<name>\": replicas}: %v", app.GetName(), StoppedReplicasAnnotation, err))
	}
	return remembered, nil
}

// remember writes (or with nil, removes) the remembered replicas on the
// application, as the client's user, provided nobody changed what it
// remembered since app was read: the application's status changes all
// the time, so a conflict is retried while the annotation is as read.
func (s *scaler) remember(ctx context.Context, app *unstructured.Unstructured, remembered map[string]int32) error {
	var value any
	if remembered != nil {
		raw, err := json.Marshal(remembered)
		if err != nil {
			return err
		}
		value = string(raw)
	}
	options := metav1.PatchOptions{}
	if s.dryRun {
		options.DryRun = []string{metav1.DryRunAll}
	}
	read := app.GetAnnotations()[StoppedReplicasAnnotation]
	for attempt := 0; ; attempt++ {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations":     map[string]any{StoppedReplicasAnnotation: value},
			"resourceVersion": app.GetResourceVersion(),
		}})
		if err != nil {
			return err
		}
		_, err = s.client.Resource(Resource).Namespace(s.namespace).Patch(ctx, app.GetName(), types.MergePatchType, patch, options)
		if !apierrors.IsConflict(err) || attempt == rememberAttempts-1 {
			return err
		}
		if app, err = s.client.Resource(Resource).Namespace(s.namespace).Get(ctx, app.GetName(), metav1.GetOptions{}); err != nil {
			return err
		}
		if app.GetAnnotations()[StoppedReplicasAnnotation] != read {
			return apierrors.NewConflict(Resource.GroupResource(), app.GetName(),
				fmt.Errorf("the application was stopped or started by someone else meanwhile; try again"))
		}
	}
}

// rememberAttempts bounds the retries of remember.
const rememberAttempts = 5

func scalableOf(components []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, c := range components {
		if _, ok := scalable[c.GroupVersionKind().GroupKind()]; ok {
			out = append(out, c)
		}
	}
	return out
}

// Stop scales the application's Deployments and StatefulSets to 0 with
// client (the caller's), having first remembered their replicas in the
// application, so that Start gives them back; a workload already at 0 of
// a stopped application keeps what was remembered for it. On a refusal,
// what was scaled is scaled back and the application keeps what it
// remembered before; the error is kube-apiserver's, naming the object
// and the missing right.
func Stop(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, components []*unstructured.Unstructured, dryRun bool) ([]Scaled, error) {
	s := &scaler{client: client, namespace: app.GetNamespace(), dryRun: dryRun}
	before, err := Remembered(app)
	if err != nil {
		return nil, err
	}
	type target struct {
		obj, scale *unstructured.Unstructured
		replicas   int32
	}
	var targets []target
	remembered := map[string]int32{}
	for _, obj := range scalableOf(components) {
		scale, replicas, err := s.replicas(ctx, obj)
		if err != nil {
			return nil, err
		}
		remembered[workloadKey(obj)] = replicas
		if was, ok := before[workloadKey(obj)]; ok && replicas == 0 {
			remembered[workloadKey(obj)] = was
		}
		targets = append(targets, target{obj, scale, replicas})
	}
	if err := s.remember(ctx, app, remembered); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if t.replicas == 0 {
			continue
		}
		if err := s.scale(ctx, t.obj, t.scale, t.replicas, 0); err != nil {
			s.undo(ctx)
			s.restore(ctx, app, before)
			return nil, err
		}
	}
	return s.done, nil
}

// Start gives the application's Deployments and StatefulSets back the
// replicas remembered when it was stopped (one for a workload at 0 it
// does not remember), with client, then forgets them. On a refusal, what
// was scaled is scaled back.
func Start(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, components []*unstructured.Unstructured, dryRun bool) ([]Scaled, error) {
	s := &scaler{client: client, namespace: app.GetNamespace(), dryRun: dryRun}
	remembered, err := Remembered(app)
	if err != nil {
		return nil, err
	}
	for _, obj := range scalableOf(components) {
		scale, replicas, err := s.replicas(ctx, obj)
		if err != nil {
			s.undo(ctx)
			return nil, err
		}
		want, ok := remembered[workloadKey(obj)]
		switch {
		case ok:
		case replicas == 0:
			want = 1
		default:
			want = replicas
		}
		if want == replicas {
			continue
		}
		if err := s.scale(ctx, obj, scale, replicas, want); err != nil {
			s.undo(ctx)
			return nil, err
		}
	}
	if _, stopped := app.GetAnnotations()[StoppedReplicasAnnotation]; stopped {
		if err := s.remember(ctx, app, nil); err != nil {
			s.undo(ctx)
			return nil, err
		}
	}
	return s.done, nil
}

// restore puts back what the application remembered before a stop that
// was refused.
func (s *scaler) restore(ctx context.Context, app *unstructured.Unstructured, before map[string]int32) {
	if len(before) == 0 {
		before = nil
	}
	current, err := s.client.Resource(Resource).Namespace(s.namespace).Get(ctx, app.GetName(), metav1.GetOptions{})
	if err == nil {
		err = s.remember(ctx, current, before)
	}
	if err != nil {
		klog.FromContext(ctx).Error(err, "Restoring the remembered replicas after a refused stop failed", "application", klog.KObj(app))
	}
}
