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

// Package namespaceimport serves namespaceimports: creating one imports a
// namespace into a project and stores the outcome as a record.
package namespaceimport

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/apis/auth/validation"
)

// strategy governs the records. Their status is written by the
// import itself, and they are never updated.
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
}

func (strategy) NamespaceScoped() bool { return false }

func (strategy) PrepareForCreate(context.Context, runtime.Object) {}

func (strategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	return validation.ValidateNamespaceImport(obj.(*auth.NamespaceImport))
}

func (strategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return field.ErrorList{field.Forbidden(field.NewPath(""), "namespace imports are records and cannot be changed")}
}

func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }

func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}

func (strategy) Canonicalize(runtime.Object) {}

func (strategy) AllowCreateOnUpdate(context.Context) bool { return false }

func (strategy) AllowUnconditionalUpdate(context.Context) bool { return false }

// statusStrategy governs the one change a record sees: archon writing
// the outcome of an import that was Importing.
type statusStrategy struct {
	strategy
}

func (statusStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	imp, oldImp := obj.(*auth.NamespaceImport), old.(*auth.NamespaceImport)
	status := imp.Status
	*imp = *oldImp.DeepCopy()
	imp.Status = status
}

func (statusStrategy) ValidateUpdate(_ context.Context, _, old runtime.Object) field.ErrorList {
	if phase := old.(*auth.NamespaceImport).Status.Phase; phase != auth.NamespaceImportImporting {
		return field.ErrorList{field.Forbidden(field.NewPath("status"), fmt.Sprintf("the import is %s already", phase))}
	}
	return nil
}

func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	imp, ok := obj.(*auth.NamespaceImport)
	if !ok {
		return nil, nil, fmt.Errorf("not a NamespaceImport: %T", obj)
	}
	return imp.Labels, generic.AddObjectMetaFieldsSet(fields.Set{
		auth.NamespaceImportProjectField:   imp.Spec.Project,
		auth.NamespaceImportNamespaceField: imp.Spec.Namespace,
		auth.NamespaceImportPhaseField:     string(imp.Status.Phase),
	}, &imp.ObjectMeta, false), nil
}

func matchNamespaceImport(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: getAttrs}
}
