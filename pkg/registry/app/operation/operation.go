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

// Package operation holds what the create-only operation resources on
// applications (exports, snapshots) share: readying the request object,
// and a client acting as the caller.
package operation

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/registry/callers"
)

// Admit readies the request object of an operation: its namespace from
// the request, a name from its generateName, then validate (a 422 of
// kind on errors) and createValidation (admission).
func Admit(ctx context.Context, obj runtime.Object, kind schema.GroupKind, validate func() field.ErrorList, createValidation rest.ValidateObjectFunc) error {
	object, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	object.SetNamespace(genericapirequest.NamespaceValue(ctx))
	if object.GetName() == "" && object.GetGenerateName() != "" {
		object.SetName(names.SimpleNameGenerator.GenerateName(object.GetGenerateName()))
	}
	if errs := validate(); len(errs) > 0 {
		return apierrors.NewInvalid(kind, object.GetName(), errs)
	}
	if createValidation != nil {
		return createValidation(ctx, obj)
	}
	return nil
}

// CallerClient returns a dynamic client of the cluster kubeConfig reaches
// acting as the request's caller; a request without one is refused as
// forbidden to create name of resource.
func CallerClient(ctx context.Context, kubeConfig *restclient.Config, resource schema.GroupResource, name string) (dynamic.Interface, error) {
	config, err := callers.Config(ctx, kubeConfig)
	if err != nil {
		return nil, apierrors.NewForbidden(resource, name, err)
	}
	return dynamic.NewForConfig(config)
}
