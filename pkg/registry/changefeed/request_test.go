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
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestFilterSelectsByNamespaceLabelsAndName(t *testing.T) {
	object := func(namespace, name, tier string) *metav1.ObjectMeta {
		return &metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"tier": tier}}
	}
	objects := map[string]*metav1.ObjectMeta{
		"a/web": object("a", "web", "front"), "a/db": object("a", "db", "back"), "b/web": object("b", "web", "front"),
	}
	names := func(ctx context.Context, options *metainternalversion.ListOptions) []string {
		visible, err := Filter[*metav1.ObjectMeta](ctx, options, "things")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, obj := range Sorted(objects, visible) {
			out = append(out, obj.Namespace+"/"+obj.Name)
		}
		return out
	}
	inA := genericapirequest.WithNamespace(context.Background(), "a")
	all := context.Background()
	for _, tc := range []struct {
		ctx     context.Context
		options *metainternalversion.ListOptions
		want    []string
	}{
		{all, nil, []string{"a/db", "a/web", "b/web"}},
		{inA, nil, []string{"a/db", "a/web"}},
		{all, &metainternalversion.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{"tier": "front"})}, []string{"a/web", "b/web"}},
		{all, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", "web")}, []string{"a/web", "b/web"}},
		{inA, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.namespace", "b")}, nil},
	} {
		if got := names(tc.ctx, tc.options); len(got) != len(tc.want) || (len(got) > 0 && fmt.Sprint(got) != fmt.Sprint(tc.want)) {
			t.Errorf("%v: %v, want %v", tc.options, got, tc.want)
		}
	}
	_, err := Filter[*metav1.ObjectMeta](all, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.x", "y")}, "things")
	if !apierrors.IsBadRequest(err) {
		t.Errorf("an unsupported field: %v", err)
	}
}
