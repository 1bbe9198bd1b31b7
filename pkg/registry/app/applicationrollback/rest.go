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

// Package applicationrollback serves applicationrollbacks: a create-only
// resource that brings an application back to a recorded revision as the
// caller, and records the result as a new revision.
package applicationrollback

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/dynamic"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/registry/app/operation"
	"github.com/acp-archon/archon/pkg/templateapp"
)

// REST rolls applications back.
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

// NewREST returns the storage of rollbacks: applications and their
// revisions are read and written as the caller through the cluster
// kubeConfig reaches, with reader; the new revision is written with
// recorder.
func NewREST(kubeConfig *restclient.Config, reader *application.Reader, recorder *application.Recorder) *REST {
	return &REST{Storage: operation.Storage{Singular: "applicationrollback", NewObject: func() runtime.Object { return &app.ApplicationRollback{} },
		Columns: columns, Cells: cells}, kubeConfig: kubeConfig, reader: reader, recorder: recorder}
}

// Create rolls the application back and records the result; nothing else
// is stored. A dry run tries every write and records nothing.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	rollback := obj.(*app.ApplicationRollback)
	spec := rollback.Spec
	request, err := operation.Open(ctx, rollback, app.Kind("ApplicationRollback"), app.Resource("applicationrollbacks"),
		func() field.ErrorList { return validation.ValidateApplicationRollback(rollback) }, createValidation, r.kubeConfig, r.reader, spec.Application)
	if err != nil {
		return nil, err
	}
	client := request.Client
	revision, err := application.Revision(ctx, client, rollback.Namespace, spec.Application, spec.Revision)
	if apierrors.IsNotFound(err) {
		return nil, r.notRecorded(ctx, client, rollback)
	}
	if err != nil {
		return nil, err
	}
	dryRun := len(options.DryRun) > 0
	if templateapp.IsTemplate(request.Application) {
		return r.rollbackTemplate(ctx, request, rollback, revision, dryRun)
	}
	done, err := r.reader.Rollback(ctx, client, request.Application, request.Components, revision, dryRun)
	if err != nil {
		return nil, err
	}
	rollback.Status = app.ApplicationRollbackStatus{Applied: references(done.Applied), Deleted: references(done.Deleted)}
	if !dryRun {
		cause := spec.ChangeCause
		if cause == "" {
			cause = fmt.Sprintf("rollback to revision %d", spec.Revision)
		}
		recorded, err := request.RecordAfter(ctx, r.reader, r.recorder, cause, "rolled back")
		if err != nil {
			return nil, err
		}
		rollback.Status.Revision, rollback.Status.History = recorded.Revision, recorded.History
	}
	rollback.CreationTimestamp = metav1.Now()
	return rollback, nil
}

// rollbackTemplate rolls a template application back by writing the
// chart annotations of the revision, as the caller: archon records the
// caller as the requester and rolls the helm release back to the revision
// made for them (or installs them, when helm no longer keeps it), then
// records the new revision, which is awaited for at most templateWait.
func (r *REST) rollbackTemplate(ctx context.Context, request *operation.Request, rollback *app.ApplicationRollback,
	revision []*unstructured.Unstructured, dryRun bool) (runtime.Object, error) {
	name, namespace := rollback.Spec.Application, rollback.Namespace
	var recorded *unstructured.Unstructured
	for _, obj := range revision {
		if obj.GroupVersionKind().GroupKind() == application.Resource.GroupVersion().WithKind("Application").GroupKind() {
			recorded = obj
		}
	}
	if recorded == nil || !templateapp.IsTemplate(recorded) {
		return nil, apierrors.NewConflict(application.Resource.GroupResource(), name, fmt.Errorf(
			"revision %d of template application %s was not made from a chart: a template application goes back to chart revisions only", rollback.Spec.Revision, name))
	}
	annotations := map[string]any{}
	same := true
	for _, key := range templateapp.ChartAnnotations {
		value, ok := recorded.GetAnnotations()[key]
		current, has := request.Application.GetAnnotations()[key]
		same = same && ok == has && value == current
		if ok {
			annotations[key] = value
		} else {
			annotations[key] = nil
		}
	}
	rollback.CreationTimestamp = metav1.Now()
	if same {
		return rollback, nil // already at that chart, version and values
	}
	before, err := application.Histories(ctx, request.Client, namespace, name)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": request.Application.GetResourceVersion(), "annotations": annotations}})
	if err != nil {
		return nil, err
	}
	patchOptions := metav1.PatchOptions{}
	if dryRun {
		patchOptions.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := request.Client.Resource(application.Resource).Namespace(namespace).Patch(ctx, name, types.MergePatchType, data, patchOptions); err != nil {
		return nil, err
	}
	if dryRun {
		return rollback, nil
	}
	newest := int64(0)
	if n := len(before); n > 0 {
		newest = application.RevisionOf(&before[n-1])
	}
	_ = wait.PollUntilContextTimeout(ctx, templatePoll, templateWait, true, func(ctx context.Context) (bool, error) {
		histories, err := application.Histories(ctx, request.Client, namespace, name)
		if err != nil || len(histories) == 0 {
			return false, nil
		}
		last := &histories[len(histories)-1]
		if revision := application.RevisionOf(last); revision > newest {
			rollback.Status.Revision, rollback.Status.History = revision, last.GetName()
			var diffs application.ResourceDiffs
			if raw, ok, _ := unstructured.NestedMap(last.Object, "spec", "resourceDiffs"); ok {
				_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &diffs)
			}
			rollback.Status.Applied = references(append(diffs.Create, diffs.Update...))
			rollback.Status.Deleted = references(diffs.Delete)
			return true, nil
		}
		return false, nil
	})
	return rollback, nil
}

// templatePoll and templateWait are how often and how long a rollback of
// a template application looks for the revision archon records once helm
// rolled back; past that the rollback answers without it, and the
// application's Synced condition tells the rest.
const (
	templatePoll = 250 * time.Millisecond
	templateWait = 30 * time.Second
)

// notRecorded is the 404 of a revision that is not, or no longer,
// recorded, saying which are.
func (r *REST) notRecorded(ctx context.Context, client dynamic.Interface, rollback *app.ApplicationRollback) error {
	message := fmt.Sprintf("application %s has no revision %d", rollback.Spec.Application, rollback.Spec.Revision)
	if histories, err := application.Histories(ctx, client, rollback.Namespace, rollback.Spec.Application); err == nil {
		var kept []string
		for i := range histories {
			kept = append(kept, fmt.Sprint(application.RevisionOf(&histories[i])))
		}
		if len(kept) == 0 {
			message += " (none is recorded: take a snapshot first)"
		} else {
			message += fmt.Sprintf(" (the newest %d are kept: %s)", application.KeptRevisions, strings.Join(kept, ", "))
		}
	}
	return apierrors.NewNotFound(application.HistoryResource.GroupResource(), message)
}

func references(refs []application.ResourceReference) []app.ResourceReference {
	var out []app.ResourceReference
	for _, ref := range refs {
		out = append(out, app.ResourceReference{Kind: ref.Kind, Name: ref.Name})
	}
	return out
}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the request."},
	{Name: "Application", Type: "string", Description: "The application rolled back."},
	{Name: "To", Type: "integer", Description: "The revision gone back to."},
	{Name: "Revision", Type: "integer", Description: "The new revision recorded."},
	{Name: "Deleted", Type: "string", Description: "Components created since, deleted."},
}

// cells are the row of a rollback.
func cells(object runtime.Object) []any {
	rollback := object.(*app.ApplicationRollback)
	var deleted []string
	for _, ref := range rollback.Status.Deleted {
		deleted = append(deleted, ref.Kind+"/"+ref.Name)
	}
	return []any{rollback.Name, rollback.Spec.Application, rollback.Spec.Revision, rollback.Status.Revision, strings.Join(deleted, ",")}
}
