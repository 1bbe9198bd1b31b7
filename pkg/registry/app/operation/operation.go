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
// applications (exports, snapshots, stops, starts, imports, removals,
// rollbacks) share: what their storage answers about itself and its
// table, readying the request object, a client acting as the caller, the
// application read as the caller, and the revision recorded after.
package operation

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/authz"
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

// Request is an operation on an application: who asked, their client,
// and the application with its components as they read them.
type Request struct {
	Caller      string
	Client      dynamic.Interface
	Application *unstructured.Unstructured
	Components  []*unstructured.Unstructured
}

// Open readies the request object obj of resource (see Admit), and reads
// the application it names, in its namespace, with its components, as
// the caller.
func Open(ctx context.Context, obj runtime.Object, kind schema.GroupKind, resource schema.GroupResource, validate func() field.ErrorList,
	createValidation rest.ValidateObjectFunc, kubeConfig *restclient.Config, reader *application.Reader, name string) (*Request, error) {
	if err := Admit(ctx, obj, kind, validate, createValidation); err != nil {
		return nil, err
	}
	object, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	caller, ok := genericapirequest.UserFrom(ctx)
	if !ok || caller.GetName() == "" {
		return nil, apierrors.NewForbidden(resource, object.GetName(), authz.ErrNoUser)
	}
	client, err := CallerClient(ctx, kubeConfig, resource, object.GetName())
	if err != nil {
		return nil, err
	}
	source, err := client.Resource(application.Resource).Namespace(object.GetNamespace()).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	components, err := reader.Components(ctx, client, source)
	if err != nil {
		return nil, err
	}
	return &Request{Caller: caller.GetName(), Client: client, Application: source, Components: components}, nil
}

// RecordAfter records the application as the caller reads it now, after
// what the operation did, as its next revision; did says what that was,
// for the error when the revision cannot be recorded.
func (r *Request) RecordAfter(ctx context.Context, reader *application.Reader, recorder *application.Recorder, cause, did string) (application.Recorded, error) {
	current, err := r.Client.Resource(application.Resource).Namespace(r.Application.GetNamespace()).Get(ctx, r.Application.GetName(), metav1.GetOptions{})
	if err != nil {
		return application.Recorded{}, err
	}
	components, err := reader.Components(ctx, r.Client, current)
	if err != nil {
		return application.Recorded{}, err
	}
	recorded, err := recorder.Record(ctx, application.Snapshot{Application: current, Components: components, User: r.Caller, ChangeCause: cause}, false)
	if err != nil {
		return application.Recorded{}, fmt.Errorf("the application was %s, but recording the revision failed: %w", did, err)
	}
	return recorded, nil
}
