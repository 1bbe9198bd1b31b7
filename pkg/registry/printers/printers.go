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

// Package printers holds what the table convertors of archon's resources
// share: headers, list metadata and ages printed the way kubectl prints
// its own.
package printers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Convert prints one T, or a list of them, as a table of columns with a
// row of cells per object.
func Convert[T runtime.Object](object, tableOptions runtime.Object, columns []metav1.TableColumnDefinition, cells func(T) []interface{}) (*metav1.Table, error) {
	table := NewTable(columns, tableOptions)
	items := []runtime.Object{object}
	if meta.IsListType(object) {
		var err error
		if items, err = meta.ExtractList(object); err != nil {
			return nil, err
		}
		if list, ok := object.(metav1.ListInterface); ok {
			SetListMeta(table, list)
		}
	}
	for _, item := range items {
		obj, ok := item.(T)
		if !ok {
			var want T
			return nil, fmt.Errorf("cannot print %T in a table of %T", item, want)
		}
		table.Rows = append(table.Rows, metav1.TableRow{Cells: cells(obj), Object: runtime.RawExtension{Object: item}})
	}
	return table, nil
}

// NewTable returns a table with columns, without them when the request
// asked for no headers.
func NewTable(columns []metav1.TableColumnDefinition, tableOptions runtime.Object) *metav1.Table {
	table := &metav1.Table{}
	if opts, ok := tableOptions.(*metav1.TableOptions); !ok || !opts.NoHeaders {
		table.ColumnDefinitions = columns
	}
	return table
}

// SetListMeta carries a list's resourceVersion and continuation into the
// table, so "kubectl get --chunk-size" and watches work on tables too.
func SetListMeta(table *metav1.Table, list metav1.ListInterface) {
	table.ResourceVersion = list.GetResourceVersion()
	table.Continue = list.GetContinue()
	table.RemainingItemCount = list.GetRemainingItemCount()
}

// Age is the time since created, as kubectl prints ages.
func Age(created metav1.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(metav1.Now().Sub(created.Time))
}
