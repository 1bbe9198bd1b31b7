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

// Package applicationmembership serves applicationimports and
// applicationremovals: create-only resources that make existing resources
// of an application's namespace its components, or dissociate them
// without deleting them, as the caller, and record the result as a
// revision.
package applicationmembership

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/registry/app/operation"
)

type change func(r *application.Reader, ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured,
	components []*unstructured.Unstructured, members []application.Member, dryRun bool) (application.Membership, field.ErrorList, error)

// direction is an import or a removal.
type direction struct {
	operation.Storage
	kind, resource, did string
	remove              bool
	change              change
}

var (
	imports = direction{kind: "ApplicationImport", resource: "applicationimports", did: "imported", change: (*application.Reader).Import,
		Storage: storage("applicationimport", func() runtime.Object { return &app.ApplicationImport{} })}
	removals = direction{kind: "ApplicationRemoval", resource: "applicationremovals", did: "removed", remove: true, change: (*application.Reader).Remove,
		Storage: storage("applicationremoval", func() runtime.Object { return &app.ApplicationRemoval{} })}
)

// partsOf reaches into an import or a removal.
func partsOf(obj runtime.Object) (*metav1.ObjectMeta, *app.ApplicationMembershipSpec, *app.ApplicationMembershipStatus) {
	switch s := obj.(type) {
	case *app.ApplicationImport:
		return &s.ObjectMeta, &s.Spec, &s.Status
	case *app.ApplicationRemoval:
		return &s.ObjectMeta, &s.Spec, &s.Status
	}
	panic(fmt.Sprintf("%T is neither an import nor a removal", obj))
}

// REST imports resources into applications or removes them.
type REST struct {
	direction
	kubeConfig *restclient.Config
	reader     *application.Reader
	recorder   *application.Recorder
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.TableConvertor       = &REST{}
)

// NewImportREST returns the storage of imports: applications and their
// resources are read and written as the caller through the cluster
// kubeConfig reaches, with reader; revisions are written with recorder.
func NewImportREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{direction: imports, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// NewRemovalREST returns the storage of removals, like NewImportREST.
func NewRemovalREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{direction: removals, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// Create imports or removes the resources and records the result;
// nothing else is stored. A dry run writes nothing and records nothing.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	object, spec, status := partsOf(obj)
	request, err := operation.Open(ctx, obj, app.Kind(r.kind), app.Resource(r.resource),
		func() field.ErrorList { return validation.ValidateApplicationMembership(object, spec, r.remove) },
		createValidation, r.kubeConfig, r.reader, spec.Application)
	if err != nil {
		return nil, err
	}
	members := make([]application.Member, len(spec.Resources))
	for i, ref := range spec.Resources {
		group := ref.Group
		if group == application.CoreGroup {
			group = ""
		}
		members[i] = application.Member{Kind: schema.GroupKind{Group: group, Kind: ref.Kind}, Name: ref.Name,
			Path: field.NewPath("spec", "resources").Index(i)}
	}
	dryRun := len(options.DryRun) > 0
	changed, errs, err := r.change(r.reader, ctx, request.Client, request.Application, request.Components, members, dryRun)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(app.Kind(r.kind), object.Name, errs)
	}
	for _, m := range changed.Members {
		status.Resources = append(status.Resources, app.ComponentReference{Group: m.Kind.Group, Kind: m.Kind.Kind, Name: m.Name})
	}
	if !dryRun {
		cause := spec.ChangeCause
		if cause == "" {
			cause = r.did + " " + ResourcesOf(status.Resources)
		}
		recorded, err := request.RecordAfter(ctx, r.reader, r.recorder, cause, r.did)
		if err != nil {
			return nil, err
		}
		status.Revision, status.History = recorded.Revision, recorded.History
	}
	object.CreationTimestamp = metav1.Now()
	return obj, nil
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the request."},
	{Name: "Application", Type: "string", Description: "The application."},
	{Name: "Resources", Type: "string", Description: "The resources imported or removed."},
	{Name: "Revision", Type: "integer", Description: "The revision recorded."},
}

// storage is the import or removal storage of singular.
func storage(singular string, newObject func() runtime.Object) operation.Storage {
	return operation.Storage{Singular: singular, NewObject: newObject, Columns: columns, Cells: func(object runtime.Object) []any {
		meta, spec, status := partsOf(object)
		return []any{meta.Name, spec.Application, ResourcesOf(status.Resources), status.Revision}
	}}
}

// ResourcesOf prints resources as Kind/name, comma-separated.
func ResourcesOf(resources []app.ComponentReference) string {
	names := make([]string, len(resources))
	for i, ref := range resources {
		names[i] = ref.Kind + "/" + ref.Name
	}
	if len(names) == 0 {
		return "<none>"
	}
	return strings.Join(names, ",")
}
