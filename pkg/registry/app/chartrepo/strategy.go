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

// Package chartrepo stores ChartRepos in etcd: the rules applied on create
// and update, the fields they can be selected by, and their table.
package chartrepo

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/apis/app/validation"
	"github.com/acp-archon/archon/pkg/registry/statusrest"
)

// strategy governs writes to the spec and metadata; the status belongs to
// the platform and is written through chartrepos/status.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

var _ rest.RESTCreateUpdateStrategy = strategy{}

func (strategy) NamespaceScoped() bool { return true }

func (strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(appv1beta1.SchemeGroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// PrepareForCreate starts every repository Pending: nothing is synced yet.
func (strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	obj.(*app.ChartRepo).Status = app.ChartRepoStatus{Phase: app.ChartRepoPending}
}

func (strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*app.ChartRepo).Status = old.(*app.ChartRepo).Status
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateChartRepo(obj.(*app.ChartRepo))
}

func (strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateChartRepoUpdate(obj.(*app.ChartRepo), old.(*app.ChartRepo))
}

func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (strategy) Canonicalize(runtime.Object) {}

func (strategy) AllowCreateOnUpdate(context.Context) bool { return false }

func (strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

// statusStrategy governs chartrepos/status: only the status changes.
type statusStrategy struct {
	strategy
}

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return statusrest.ResetFields(appv1beta1.SchemeGroupVersion)
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	repo, oldRepo := obj.(*app.ChartRepo), old.(*app.ChartRepo)
	repo.Spec = oldRepo.Spec
	repo.Labels = oldRepo.Labels
	repo.Annotations = oldRepo.Annotations
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateChartRepoStatusUpdate(obj.(*app.ChartRepo), old.(*app.ChartRepo))
}

// getAttrs exposes a repository's labels and selectable fields to list and
// watch filtering.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	repo, ok := obj.(*app.ChartRepo)
	if !ok {
		return nil, nil, fmt.Errorf("not a ChartRepo: %T", obj)
	}
	return repo.Labels, generic.AddObjectMetaFieldsSet(fields.Set{
		app.ChartRepoTypeField:  string(repo.Spec.Type),
		app.ChartRepoPhaseField: string(repo.Status.Phase),
	}, &repo.ObjectMeta, true), nil
}

func matchChartRepo(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
