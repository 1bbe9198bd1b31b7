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
	"fmt"
	"sort"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/export"
)

const (
	// KeptRevisions is how many revisions of an application are kept, as
	// the platform documents it: older ones are deleted, oldest first.
	KeptRevisions = 6
	// MaxRevisionBytes bounds the YAML of one revision, under etcd's
	// limit of 1.5 MiB an object.
	MaxRevisionBytes = 1 << 20
	// recordAttempts bounds the retries when revisions are recorded at
	// once and take the same number.
	recordAttempts = 5
)

// ResourceDiffs are the components created, updated and deleted between
// two revisions.
type ResourceDiffs struct {
	Create []ResourceReference `json:"create,omitempty"`
	Update []ResourceReference `json:"update,omitempty"`
	Delete []ResourceReference `json:"delete,omitempty"`
}

// ResourceReference names a component.
type ResourceReference struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Snapshot is what a revision records: the application and its
// components as the caller read them, who asked and why.
type Snapshot struct {
	Application *unstructured.Unstructured
	Components  []*unstructured.Unstructured
	User        string
	ChangeCause string
}

// Recorded is a revision written, or in a dry run the one that would be.
type Recorded struct {
	Revision int64
	History  string
	Diffs    ResourceDiffs
}

// Recorder writes ApplicationHistory revisions. It writes with archon's
// rights, which users do not have: what it records was read as the
// caller, who it names is the caller.
type Recorder struct {
	client dynamic.Interface
	now    func() time.Time
}

// NewRecorder returns a recorder writing histories with client.
func NewRecorder(client dynamic.Interface) *Recorder {
	return &Recorder{client: client, now: time.Now}
}

// Record writes the snapshot as the application's next revision, with the
// differences from the one before, and deletes all but the newest
// KeptRevisions. Secret values are never recorded: histories are read by
// every viewer of the namespace.
func (r *Recorder) Record(ctx context.Context, s Snapshot, dryRun bool) (Recorded, error) {
	namespace, name := s.Application.GetNamespace(), s.Application.GetName()
	stream, err := export.YAML(name, append([]*unstructured.Unstructured{s.Application}, s.Components...), export.OmitSecretData)
	if err != nil {
		return Recorded{}, err
	}
	if size := len(stream.Data); size > MaxRevisionBytes {
		return Recorded{}, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
			"application %s and its components come to %d bytes of YAML, more than one revision holds (%d): split the application", name, size, MaxRevisionBytes))
	}
	recorded, err := DecodeStream(string(stream.Data), name)
	if err != nil {
		return Recorded{}, err
	}
	for attempt := 0; attempt < recordAttempts; attempt++ {
		histories, err := Histories(ctx, r.client, namespace, name)
		if err != nil {
			return Recorded{}, err
		}
		result := Recorded{Revision: 1}
		var previous []*unstructured.Unstructured
		if n := len(histories); n > 0 {
			last := &histories[n-1]
			result.Revision = RevisionOf(last) + 1
			stream, _, _ := unstructured.NestedString(last.Object, "spec", "yaml")
			if previous, err = DecodeStream(stream, last.GetName()); err != nil {
				previous = nil // an unreadable revision: everything counts as created
			}
		}
		result.Diffs = Diff(previous, recorded)
		result.History = fmt.Sprintf("%s-%d", name, result.Revision)
		if dryRun {
			return result, nil
		}
		history, err := r.history(s, result, string(stream.Data))
		if err != nil {
			return Recorded{}, err
		}
		created, err := r.client.Resource(HistoryResource).Namespace(namespace).Create(ctx, history, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue // recorded at the same time as another: take the next number
		}
		if err != nil {
			return Recorded{}, err
		}
		r.prune(ctx, append(histories, *created))
		return result, nil
	}
	return Recorded{}, apierrors.NewConflict(HistoryResource.GroupResource(), name,
		fmt.Errorf("revisions of application %s are being recorded by many at once; try again", name))
}

func (r *Recorder) history(s Snapshot, result Recorded, stream string) (*unstructured.Unstructured, error) {
	diffs, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&result.Diffs)
	if err != nil {
		return nil, err
	}
	history := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"applicationName":   s.Application.GetName(),
			"revision":          result.Revision,
			"user":              s.User,
			"changeCause":       s.ChangeCause,
			"resourceDiffs":     diffs,
			"yaml":              stream,
			"creationTimestamp": r.now().UTC().Format(time.RFC3339),
		},
	}}
	history.SetAPIVersion(HistoryResource.GroupVersion().String())
	history.SetKind("ApplicationHistory")
	history.SetName(result.History)
	history.SetNamespace(s.Application.GetNamespace())
	// Owned by the application, so that they go with it.
	history.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: s.Application.GetAPIVersion(), Kind: s.Application.GetKind(),
		Name: s.Application.GetName(), UID: s.Application.GetUID(),
	}})
	return history, nil
}

// prune deletes all but the newest KeptRevisions of histories; a failure
// leaves one more than that until the next revision.
func (r *Recorder) prune(ctx context.Context, histories []unstructured.Unstructured) {
	sort.Slice(histories, func(i, j int) bool { return RevisionOf(&histories[i]) < RevisionOf(&histories[j]) })
	for i := 0; i < len(histories)-KeptRevisions; i++ {
		h := &histories[i]
		uid := h.GetUID()
		err := r.client.Resource(HistoryResource).Namespace(h.GetNamespace()).Delete(ctx, h.GetName(), metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			klog.FromContext(ctx).Error(err, "Pruning an application history failed", "history", klog.KObj(h))
		}
	}
}

// Diff is what changed from the objects before to those after (as
// recorded: simplified), the application itself left out.
func Diff(before, after []*unstructured.Unstructured) ResourceDiffs {
	type key struct{ group, kind, name string }
	keyOf := func(obj *unstructured.Unstructured) key {
		return key{obj.GroupVersionKind().Group, obj.GetKind(), obj.GetName()}
	}
	old := map[key]*unstructured.Unstructured{}
	for _, obj := range before {
		if !isApplication(obj) {
			old[keyOf(obj)] = obj
		}
	}
	var diffs ResourceDiffs
	seen := map[key]bool{}
	for _, obj := range after {
		if isApplication(obj) {
			continue
		}
		k := keyOf(obj)
		seen[k] = true
		reference := ResourceReference{Kind: obj.GetKind(), Name: obj.GetName()}
		switch was, found := old[k]; {
		case !found:
			diffs.Create = append(diffs.Create, reference)
		case !apiequality.Semantic.DeepEqual(was.Object, obj.Object):
			diffs.Update = append(diffs.Update, reference)
		}
	}
	for _, obj := range before {
		if k := keyOf(obj); !isApplication(obj) && !seen[k] {
			diffs.Delete = append(diffs.Delete, ResourceReference{Kind: obj.GetKind(), Name: obj.GetName()})
		}
	}
	for _, list := range [][]ResourceReference{diffs.Create, diffs.Update, diffs.Delete} {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Kind != list[j].Kind {
				return list[i].Kind < list[j].Kind
			}
			return list[i].Name < list[j].Name
		})
	}
	return diffs
}

func isApplication(obj *unstructured.Unstructured) bool {
	return obj.GroupVersionKind().GroupKind() == Resource.GroupVersion().WithKind("Application").GroupKind()
}
