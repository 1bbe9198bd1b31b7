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

package chartrepo

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/registry/statusrest"
)

// REST serves chartrepos.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames lets users type "kubectl get ctr".
func (*REST) ShortNames() []string { return []string{"ctr"} }

// StatusREST serves chartrepos/status.
type StatusREST = statusrest.REST

// NewStorage returns the storage of chartrepos and of their status. authz
// checks that whoever names a repository's secret may read it: archon
// sends the secret's credentials to the repository's URL.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, a authorizer.Authorizer) (*REST, *StatusREST, error) {
	s := strategy{scheme, names.SimpleNameGenerator}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &app.ChartRepo{} },
		NewListFunc:               func() runtime.Object { return &app.ChartRepoList{} },
		PredicateFunc:             matchChartRepo,
		DefaultQualifiedResource:  app.Resource("chartrepos"),
		SingularQualifiedResource: app.Resource("chartrepo"),

		CreateStrategy:      s,
		UpdateStrategy:      s,
		DeleteStrategy:      s,
		ResetFieldsStrategy: s,

		TableConvertor: tableConvertor{},

		BeginCreate: func(ctx context.Context, obj runtime.Object, _ *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
			return noop, maySendSecret(ctx, a, obj.(*app.ChartRepo), nil)
		},
		BeginUpdate: func(ctx context.Context, obj, old runtime.Object, _ *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
			return noop, maySendSecret(ctx, a, obj.(*app.ChartRepo), old.(*app.ChartRepo))
		},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, nil, err
	}
	return &REST{store}, statusrest.New(store, statusStrategy{s}), nil
}

func noop(context.Context, bool) {}

// maySendSecret refuses a repository naming a secret its author may not
// read, unless the secret is unchanged: otherwise anyone who may create a
// repository could have archon send any secret to a URL of their choice.
func maySendSecret(ctx context.Context, a authorizer.Authorizer, repo, old *app.ChartRepo) error {
	ref := repo.Spec.Secret
	if ref == nil || old != nil && old.Spec.Secret != nil && *old.Spec.Secret == *ref {
		return nil
	}
	namespace := ref.Namespace
	if namespace == "" {
		namespace = repo.Namespace
	}
	allowed, _ := authz.Allowed(ctx, a, authorizer.AttributesRecord{
		Verb: "get", Namespace: namespace, Name: ref.Name, Resource: "secrets", APIVersion: "v1", ResourceRequest: true,
	})
	if !allowed {
		return apierrors.NewForbidden(app.Resource("chartrepos"), repo.Name, field.Forbidden(field.NewPath("spec", "secret"),
			fmt.Sprintf("you may not get the secret %s/%s, and archon sends its credentials to the repository", namespace, ref.Name)))
	}
	return nil
}
