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

package operation

import (
	"context"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/registry/printers"
)

// Storage is what the storage of every operation answers about itself:
// the request object it takes, its singular name, that it lives in
// namespaces, and its table of one row, the response. Storages embed it
// and add Create.
type Storage struct {
	Singular  string
	NewObject func() runtime.Object
	Columns   []metav1.TableColumnDefinition
	// Cells are the row of a request object of NewObject's type.
	Cells func(runtime.Object) []any
}

// New returns an empty request object.
func (r *Storage) New() runtime.Object { return r.NewObject() }

// Destroy has nothing to release: operations hold no storage of their own.
func (r *Storage) Destroy() {}

// NamespaceScoped is true: operations act on applications of a namespace.
func (r *Storage) NamespaceScoped() bool { return true }

// GetSingularName returns the singular name of the resource.
func (r *Storage) GetSingularName() string { return r.Singular }

// ConvertToTable prints the response of the operation.
func (r *Storage) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	if reflect.TypeOf(object) != reflect.TypeOf(r.NewObject()) {
		return nil, fmt.Errorf("cannot print %T as a %s table", object, r.Singular)
	}
	table := printers.NewTable(r.Columns, tableOptions)
	table.Rows = append(table.Rows, metav1.TableRow{Cells: r.Cells(object), Object: runtime.RawExtension{Object: object}})
	return table, nil
}
