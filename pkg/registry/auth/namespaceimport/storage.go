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

package namespaceimport

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/apis/auth/validation"
)

// REST serves namespaceimports: create, get, list, watch and delete of
// the records. It offers no update: a record says what happened.
type REST struct {
	store      *genericregistry.Store
	importer   *Importer
	authorizer authorizer.Authorizer
}

var (
	_ rest.Creater                = &REST{}
	_ rest.Getter                 = &REST{}
	_ rest.Lister                 = &REST{}
	_ rest.Watcher                = &REST{}
	_ rest.GracefulDeleter        = &REST{}
	_ rest.SingularNameProvider   = &REST{}
	_ rest.Scoper                 = &REST{}
	_ rest.TableConvertor         = &REST{}
	_ rest.StorageVersionProvider = &REST{}
	_ rest.ShortNamesProvider     = &REST{}
)

// NewStorage returns the storage of namespace imports performed by importer.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, importer *Importer, authz authorizer.Authorizer) (*REST, error) {
	strategy := importStrategy{scheme, names.SimpleNameGenerator}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &auth.NamespaceImport{} },
		NewListFunc:               func() runtime.Object { return &auth.NamespaceImportList{} },
		PredicateFunc:             matchImport,
		DefaultQualifiedResource:  auth.Resource("namespaceimports"),
		SingularQualifiedResource: auth.Resource("namespaceimport"),
		CreateStrategy:            strategy,
		UpdateStrategy:            strategy,
		DeleteStrategy:            strategy,
		TableConvertor:            tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	return &REST{store: store, importer: importer, authorizer: authz}, nil
}

// Create imports the namespace, then stores the record with the outcome.
// Malformed requests get 422 and callers who may not change the project
// 403; imports the platform rules refuse are stored as Failed.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	imp := obj.(*auth.NamespaceImport)
	if errs := validation.ValidateNamespaceImport(imp); len(errs) > 0 {
		return nil, apierrors.NewInvalid(auth.Kind("NamespaceImport"), imp.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj); err != nil {
			return nil, err
		}
	}
	if err := r.authorizeProjectChange(ctx, imp); err != nil {
		return nil, err
	}
	status, err := r.importer.Import(ctx, imp.Spec, len(options.DryRun) > 0)
	if err != nil {
		return nil, err
	}
	imp.Status = status
	return r.store.Create(ctx, imp, nil, options)
}

// authorizeProjectChange lets only those who may update the project bring
// namespaces into it.
func (r *REST) authorizeProjectChange(ctx context.Context, imp *auth.NamespaceImport) error {
	if r.authorizer == nil {
		return nil
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return apierrors.NewForbidden(auth.Resource("namespaceimports"), imp.Name, fmt.Errorf("no user to authorise"))
	}
	decision, _, err := r.authorizer.Authorize(ctx, authorizer.AttributesRecord{
		User: u, Verb: "update", APIGroup: auth.GroupName, APIVersion: "v1",
		Resource: "projects", Name: imp.Spec.Project, ResourceRequest: true,
	})
	if err != nil || decision != authorizer.DecisionAllow {
		return apierrors.NewForbidden(auth.Resource("namespaceimports"), imp.Name,
			fmt.Errorf("importing into project %s needs permission to update it", imp.Spec.Project))
	}
	return nil
}

func (r *REST) New() runtime.Object     { return r.store.New() }
func (r *REST) NewList() runtime.Object { return r.store.NewList() }
func (r *REST) Destroy()                { r.store.Destroy() }
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "namespaceimport" }
func (r *REST) ShortNames() []string    { return []string{"nsimport"} }

func (r *REST) StorageVersion() runtime.GroupVersioner { return r.store.StorageVersion() }

func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.store.List(ctx, options)
}

func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	return r.store.Watch(ctx, options)
}

// Delete removes the record only; the namespace stays in the project.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.store.Delete(ctx, name, deleteValidation, options)
}

func (r *REST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}
