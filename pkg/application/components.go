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
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Reader reads applications' components and recorded revisions through
// the client it is handed, the caller's in archon's operations, so that
// it shows nothing the caller could not read.
type Reader struct {
	mapper meta.ResettableRESTMapper

	mu        sync.Mutex
	lastReset time.Time
}

// resetEvery bounds how often a kind the reader does not know makes it
// ask discovery again: every caller may name such kinds.
const resetEvery = 10 * time.Second

// NewReader returns a reader finding the resources of component kinds
// through the discovery of the cluster kubeConfig reaches.
func NewReader(kubeConfig *restclient.Config) (*Reader, error) {
	client, err := discovery.NewDiscoveryClientForConfig(kubeConfig)
	if err != nil {
		return nil, err
	}
	return NewReaderWithMapper(restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client))), nil
}

// NewReaderWithMapper returns a reader finding resources with mapper.
func NewReaderWithMapper(mapper meta.ResettableRESTMapper) *Reader {
	return &Reader{mapper: mapper}
}

// Components lists an application's components: the objects of its
// component kinds in its namespace that its selector matches (none
// without a selector). A kind the cluster does not serve is a 400 naming
// it; cluster-scoped kinds hold no components.
func (r *Reader) Components(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	name := app.GetName()
	spec, err := SpecOf(app)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: %v", name, err))
	}
	if spec.Selector == nil {
		return nil, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: spec.selector: %v", name, err))
	}
	return r.list(ctx, client, app.GetNamespace(), spec.ComponentKinds, selector, name)
}

func (r *Reader) list(ctx context.Context, client dynamic.Interface, namespace string, kinds []metav1.GroupKind, selector labels.Selector, name string) ([]*unstructured.Unstructured, error) {
	var objects []*unstructured.Unstructured
	for _, kind := range kinds {
		mapping, err := r.Mapping(schema.GroupKind(kind))
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: component kind %s is not served by the cluster", name, schema.GroupKind(kind)))
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			continue // an application holds objects of its namespace
		}
		list, err := client.Resource(mapping.Resource).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			objects = append(objects, &list.Items[i])
		}
	}
	return objects, nil
}

// Mapping finds the resource of a kind, asking discovery again for a kind
// it did not know, such as one of a CRD added since, at most every 10 s.
func (r *Reader) Mapping(kind schema.GroupKind) (*meta.RESTMapping, error) {
	mapping, err := r.mapper.RESTMapping(kind)
	if meta.IsNoMatchError(err) && r.mayReset() {
		r.mapper.Reset()
		mapping, err = r.mapper.RESTMapping(kind)
	}
	return mapping, err
}

func (r *Reader) mayReset() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.lastReset) < resetEvery {
		return false
	}
	r.lastReset = time.Now()
	return true
}

// Histories lists the recorded revisions of the application name, oldest
// first. kube-apiserver selects them by spec.applicationName (a
// selectable field of the CRD), so that the histories of other
// applications of the namespace are never read.
func Histories(ctx context.Context, client dynamic.Interface, namespace, name string) ([]unstructured.Unstructured, error) {
	list, err := client.Resource(HistoryResource).Namespace(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.applicationName", name).String(),
	})
	if err != nil {
		return nil, err
	}
	var histories []unstructured.Unstructured
	for _, history := range list.Items {
		if application, _, _ := unstructured.NestedString(history.Object, "spec", "applicationName"); application == name {
			histories = append(histories, history)
		}
	}
	sort.Slice(histories, func(i, j int) bool { return RevisionOf(&histories[i]) < RevisionOf(&histories[j]) })
	return histories, nil
}

// RevisionOf is the revision a history records.
func RevisionOf(history *unstructured.Unstructured) int64 {
	revision, _, _ := unstructured.NestedInt64(history.Object, "spec", "revision")
	return revision
}

// Revision reads the objects an ApplicationHistory recorded for revision
// of the application name: 404 when there is no such revision.
func Revision(ctx context.Context, client dynamic.Interface, namespace, name string, revision int64) ([]*unstructured.Unstructured, error) {
	histories, err := Histories(ctx, client, namespace, name)
	if err != nil {
		return nil, err
	}
	for i := range histories {
		if RevisionOf(&histories[i]) != revision {
			continue
		}
		stream, _, _ := unstructured.NestedString(histories[i].Object, "spec", "yaml")
		return DecodeStream(stream, histories[i].GetName())
	}
	return nil, apierrors.NewNotFound(HistoryResource.GroupResource(), fmt.Sprintf("%s revision %d", name, revision))
}

// DecodeStream decodes the YAML stream of the history named history into
// its objects; a List is its items.
func DecodeStream(stream, history string) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objects []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, apierrors.NewBadRequest(fmt.Sprintf("application history %s: spec.yaml: %v", history, err))
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.IsList() {
			if err := obj.EachListItem(func(item runtime.Object) error {
				objects = append(objects, item.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("application history %s: spec.yaml: %v", history, err))
			}
			continue
		}
		objects = append(objects, obj)
	}
}
