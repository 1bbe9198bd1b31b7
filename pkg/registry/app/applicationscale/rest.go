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

// Package applicationscale serves applicationstops and
// applicationstarts: create-only resources that scale an application's
// Deployments and StatefulSets to 0 and back through their scale
// subresource, as the caller, and record the result as a revision.
package applicationscale

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/registry/app/operation"
)

// direction is a stop or a start.
type direction struct {
	operation.Storage
	kind, resource, cause string
	scale                 func(context.Context, dynamic.Interface, *unstructured.Unstructured, []*unstructured.Unstructured, bool) ([]application.Scaled, error)
}

var (
	stop = direction{kind: "ApplicationStop", resource: "applicationstops", cause: "stopped", scale: application.Stop,
		Storage: storage("applicationstop", func() runtime.Object { return &app.ApplicationStop{} })}
	start = direction{kind: "ApplicationStart", resource: "applicationstarts", cause: "started", scale: application.Start,
		Storage: storage("applicationstart", func() runtime.Object { return &app.ApplicationStart{} })}
)

// partsOf reaches into a stop or a start.
func partsOf(obj runtime.Object) (*metav1.ObjectMeta, *app.ApplicationOperationSpec, *app.ApplicationScaleStatus) {
	switch s := obj.(type) {
	case *app.ApplicationStop:
		return &s.ObjectMeta, &s.Spec, &s.Status
	case *app.ApplicationStart:
		return &s.ObjectMeta, &s.Spec, &s.Status
	}
	panic(fmt.Sprintf("%T is neither a stop nor a start", obj))
}

// REST stops or starts applications.
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

// NewStopREST returns the storage of stops: applications are read and
// scaled as the caller through the cluster kubeConfig reaches, with
// reader; revisions are written with recorder.
func NewStopREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{direction: stop, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// NewStartREST returns the storage of starts, like NewStopREST.
func NewStartREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{direction: start, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// Create scales the application and records the result; nothing else is
// stored. A dry run scales nothing and records nothing.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	object, spec, status := partsOf(obj)
	request, err := operation.Open(ctx, obj, app.Kind(r.kind), app.Resource(r.resource),
		func() field.ErrorList { return validation.ValidateApplicationOperation(object, spec) }, createValidation, r.kubeConfig, r.reader, spec.Application)
	if err != nil {
		return nil, err
	}
	dryRun := len(options.DryRun) > 0
	scaled, err := r.scale(ctx, request.Client, request.Application, request.Components, dryRun)
	if err != nil {
		return nil, err
	}
	for _, s := range scaled {
		status.Workloads = append(status.Workloads, app.WorkloadScale{Kind: s.Kind, Name: s.Name, From: s.From, To: s.To})
	}
	if !dryRun {
		cause := spec.ChangeCause
		if cause == "" {
			cause = r.cause
		}
		recorded, err := request.RecordAfter(ctx, r.reader, r.recorder, cause, r.cause)
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
	{Name: "Workloads", Type: "string", Description: "The workloads scaled, with their replicas before and after."},
	{Name: "Revision", Type: "integer", Description: "The revision recorded."},
}

// storage is the stop or start storage of singular.
func storage(singular string, newObject func() runtime.Object) operation.Storage {
	return operation.Storage{Singular: singular, NewObject: newObject, Columns: columns, Cells: func(object runtime.Object) []any {
		meta, spec, status := partsOf(object)
		return []any{meta.Name, spec.Application, WorkloadsOf(status.Workloads), status.Revision}
	}}
}

// WorkloadsOf prints scaled workloads as Kind/name from->to.
func WorkloadsOf(workloads []app.WorkloadScale) string {
	out := ""
	for i, w := range workloads {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("%s/%s %d->%d", w.Kind, w.Name, w.From, w.To)
	}
	if out == "" {
		return "<none>"
	}
	return out
}
