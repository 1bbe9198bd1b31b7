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
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/app"
)

func TestStoragePrintsItsOwnRequestsOnly(t *testing.T) {
	storage := &Storage{
		Singular:  "applicationstop",
		NewObject: func() runtime.Object { return &app.ApplicationStop{} },
		Columns:   []metav1.TableColumnDefinition{{Name: "Name", Type: "string"}, {Name: "Application", Type: "string"}},
		Cells: func(object runtime.Object) []any {
			stop := object.(*app.ApplicationStop)
			return []any{stop.Name, stop.Spec.Application}
		},
	}
	stop := &app.ApplicationStop{ObjectMeta: metav1.ObjectMeta{Name: "night"}, Spec: app.ApplicationOperationSpec{Application: "shop"}}
	table, err := storage.ConvertToTable(context.Background(), stop, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.ColumnDefinitions) != 2 || len(table.Rows) != 1 || table.Rows[0].Cells[0] != "night" || table.Rows[0].Cells[1] != "shop" {
		t.Errorf("table %+v", table)
	}
	if _, err := storage.ConvertToTable(context.Background(), &app.ApplicationStart{}, nil); err == nil {
		t.Error("a start printed as a stop")
	}
	if _, ok := storage.New().(*app.ApplicationStop); !ok || !storage.NamespaceScoped() || storage.GetSingularName() != "applicationstop" {
		t.Errorf("New %T, NamespaceScoped %v, GetSingularName %q", storage.New(), storage.NamespaceScoped(), storage.GetSingularName())
	}
}
