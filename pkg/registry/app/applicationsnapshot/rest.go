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

// Package applicationsnapshot serves applicationsnapshots: a create-only
// resource recording an application of the namespace as its next
// ApplicationHistory revision. The application and its components are
// read as the caller, so a revision holds nothing the caller could not
// read; archon writes the history, which users cannot, naming the caller.
package applicationsnapshot

import (
	"context"
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/registry/app/operation"
)

// REST records snapshots.
type REST struct {
	operation.Storage
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

// NewREST returns the storage of snapshots: applications are read as the
// caller through the cluster kubeConfig reaches, with reader; revisions
// are written with recorder.
func NewREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{Storage: operation.Storage{Singular: "applicationsnapshot", NewObject: func() runtime.Object { return &app.ApplicationSnapshot{} },
		Columns: columns, Cells: cells}, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// Create records the revision; nothing else is stored. A dry run says
// which revision it would be.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	snapshot := obj.(*app.ApplicationSnapshot)
	request, err := operation.Open(ctx, snapshot, app.Kind("ApplicationSnapshot"), app.Resource("applicationsnapshots"),
		func() field.ErrorList { return validation.ValidateApplicationSnapshot(snapshot) }, createValidation, r.kubeConfig, r.reader, snapshot.Spec.Application)
	if err != nil {
		return nil, err
	}
	recorded, err := r.recorder.Record(ctx, application.Snapshot{
		Application: request.Application, Components: request.Components, User: request.Caller, ChangeCause: snapshot.Spec.ChangeCause,
	}, len(options.DryRun) > 0)
	if err != nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return nil, err
		}
		return nil, apierrors.NewInternalError(err)
	}
	snapshot.CreationTimestamp = metav1.Now()
	snapshot.Status = app.ApplicationSnapshotStatus{Revision: recorded.Revision, History: recorded.History, ResourceDiffs: diffsOf(recorded.Diffs)}
	return snapshot, nil
}

func diffsOf(d application.ResourceDiffs) app.ResourceDiffs {
	convert := func(refs []application.ResourceReference) []app.ResourceReference {
		var out []app.ResourceReference
		for _, ref := range refs {
			out = append(out, app.ResourceReference{Kind: ref.Kind, Name: ref.Name})
		}
		return out
	}
	return app.ResourceDiffs{Create: convert(d.Create), Update: convert(d.Update), Delete: convert(d.Delete)}
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the snapshot request."},
	{Name: "Application", Type: "string", Description: "The application recorded."},
	{Name: "Revision", Type: "integer", Description: "The revision recorded."},
	{Name: "History", Type: "string", Description: "The ApplicationHistory holding it."},
	{Name: "Changes", Type: "string", Description: "Components created, updated and deleted since the revision before."},
}

// cells are the row of a snapshot.
func cells(object runtime.Object) []any {
	snapshot := object.(*app.ApplicationSnapshot)
	d := snapshot.Status.ResourceDiffs
	var changes []string
	for _, part := range []struct {
		sign string
		refs []app.ResourceReference
	}{{"+", d.Create}, {"~", d.Update}, {"-", d.Delete}} {
		for _, ref := range part.refs {
			changes = append(changes, part.sign+ref.Kind+"/"+ref.Name)
		}
	}
	return []any{snapshot.Name, snapshot.Spec.Application, snapshot.Status.Revision, snapshot.Status.History, strings.Join(changes, ",")}
}
