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

// Package chart serves charts.app.alauda.io: a read-only view of the
// charts of every repository in the catalog, named <chart>.<repository>.
package chart

import (
	"context"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// REST serves Charts from the catalog.
type REST struct {
	catalog *helmrepo.Catalog
	tableConvertor
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the storage of the Charts catalog holds.
func NewREST(catalog *helmrepo.Catalog) *REST { return &REST{catalog: catalog} }

func (r *REST) New() runtime.Object     { return &app.Chart{} }
func (r *REST) NewList() runtime.Object { return &app.ChartList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "chart" }

// Get returns the chart of a repository.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	namespace, ok := genericapirequest.NamespaceFrom(ctx)
	if !ok || namespace == "" {
		return nil, apierrors.NewBadRequest("charts are namespaced: a namespace is required")
	}
	if chart := r.catalog.Get(types.NamespacedName{Namespace: namespace, Name: name}); chart != nil {
		return chart, nil
	}
	return nil, apierrors.NewNotFound(app.Resource("charts"), name)
}

// List returns the charts of the request's namespace, or of all.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	visible, err := changefeed.Filter[*app.Chart](ctx, options, "charts")
	if err != nil {
		return nil, err
	}
	charts, revision := r.catalog.List(visible)
	list := &app.ChartList{Items: charts}
	list.ResourceVersion = strconv.FormatUint(revision, 10)
	return list, nil
}

// Watch streams the changes of the catalog: uploads, deletions and
// synchronizations.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	visible, err := changefeed.Filter[*app.Chart](ctx, options, "charts")
	if err != nil {
		return nil, err
	}
	return r.catalog.Watch(ctx, changefeed.WatchOptionsOf(options), visible)
}
