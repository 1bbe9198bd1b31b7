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

// Package project stores Projects in etcd: the rules applied on create and
// update, the fields they can be selected by, and how they print as a table.
package project

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/apis/auth/validation"
	"github.com/acp-archon/archon/pkg/registry/statusrest"
)

// strategy governs writes to the main resource: the spec and metadata.
// The status belongs to the platform and is written through projects/status.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	// cluster is the cluster archon serves; a new project's status starts
	// with its quota there.
	cluster string
	// finalizeRBAC gives new projects the finalizer that holds their
	// deletion until archon's controllers removed their RBAC; without a
	// cluster no controller runs to remove it.
	finalizeRBAC bool
}

var _ rest.RESTCreateUpdateStrategy = strategy{}

func newStrategy(typer runtime.ObjectTyper, cluster string, finalizeRBAC bool) strategy {
	return strategy{typer, names.SimpleNameGenerator, cluster, finalizeRBAC}
}

func (strategy) NamespaceScoped() bool { return false }

// GetResetFields keeps server-side apply from recording ownership of fields
// this endpoint ignores.
func (strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(authv1.SchemeGroupVersion.String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// PrepareForCreate starts the status as the status controller would write
// it for a project without namespaces, which saves every create a second
// write.
func (s strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	project := obj.(*auth.Project)
	if s.finalizeRBAC && !slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		project.Finalizers = append(project.Finalizers, authv1.ProjectRBACFinalizer)
	}
	project.Status = auth.ProjectStatus{Phase: auth.ProjectActive}
	for _, c := range project.Spec.Clusters {
		if c.Name == s.cluster {
			project.Status.Clusters = []auth.ProjectClusterStatus{{Name: c.Name, Hard: c.Quota.DeepCopy()}}
		}
	}
}

func (strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	obj.(*auth.Project).Status = old.(*auth.Project).Status
}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateProject(obj.(*auth.Project))
}

func (strategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateProjectUpdate(obj.(*auth.Project), old.(*auth.Project))
}

func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (strategy) Canonicalize(runtime.Object) {}

func (strategy) AllowCreateOnUpdate(context.Context) bool { return false }

func (strategy) AllowUnconditionalUpdate(context.Context) bool { return true }

// statusStrategy governs projects/status: only the status changes.
type statusStrategy struct {
	strategy
}

func (statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return statusrest.ResetFields(authv1.SchemeGroupVersion)
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	project, oldProject := obj.(*auth.Project), old.(*auth.Project)
	project.Spec = oldProject.Spec
	project.Labels = oldProject.Labels
	project.Annotations = oldProject.Annotations
}

func (statusStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateProjectStatusUpdate(obj.(*auth.Project), old.(*auth.Project))
}

// getAttrs exposes a project's labels and selectable fields to list and
// watch filtering.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	project, ok := obj.(*auth.Project)
	if !ok {
		return nil, nil, fmt.Errorf("not a Project: %T", obj)
	}
	return project.Labels, selectableFields(project), nil
}

func selectableFields(project *auth.Project) fields.Set {
	return generic.AddObjectMetaFieldsSet(fields.Set{
		auth.ProjectPhaseField: string(project.Status.Phase),
	}, &project.ObjectMeta, false)
}

func matchProject(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
