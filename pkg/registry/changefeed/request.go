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

package changefeed

import (
	"context"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// Filter is what a list or watch request of a namespaced collection in
// memory sees: the request's namespace (all of them without one), its
// label selector, and a field selector on metadata.name and
// metadata.namespace, the only fields such collections select on.
func Filter[T metav1.Object](ctx context.Context, options *metainternalversion.ListOptions, resource string) (func(T) bool, error) {
	namespace := genericapirequest.NamespaceValue(ctx)
	labelSelector, fieldSelector := labels.Everything(), fields.Everything()
	if options != nil && options.LabelSelector != nil {
		labelSelector = options.LabelSelector
	}
	if options != nil && options.FieldSelector != nil {
		fieldSelector = options.FieldSelector
		for _, requirement := range fieldSelector.Requirements() {
			if requirement.Field != "metadata.name" && requirement.Field != "metadata.namespace" {
				return nil, apierrors.NewBadRequest("field label not supported for " + resource + ": " + requirement.Field)
			}
		}
	}
	return func(obj T) bool {
		return (namespace == "" || obj.GetNamespace() == namespace) &&
			labelSelector.Matches(labels.Set(obj.GetLabels())) &&
			fieldSelector.Matches(fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()})
	}, nil
}

// WatchOptionsOf reads the feed's options from a watch request.
func WatchOptionsOf(options *metainternalversion.ListOptions) WatchOptions {
	return WatchOptions{
		ResourceVersion:   options.ResourceVersion,
		SendInitialEvents: options.SendInitialEvents != nil && *options.SendInitialEvents,
		Bookmarks:         options.AllowWatchBookmarks,
	}
}

// Sorted returns the objects of a collection that visible accepts, by
// namespace and name, as lists are ordered.
func Sorted[K comparable, T metav1.Object](objects map[K]T, visible func(T) bool) []T {
	var sorted []T
	for _, obj := range objects {
		if visible(obj) {
			sorted = append(sorted, obj)
		}
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].GetNamespace() != sorted[j].GetNamespace() {
			return sorted[i].GetNamespace() < sorted[j].GetNamespace()
		}
		return sorted[i].GetName() < sorted[j].GetName()
	})
	return sorted
}
