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

package project

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// tableProject is a project with something to show in every column.
func tableProject(name string) *auth.Project {
	return &auth.Project{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			CreationTimestamp: metav1.NewTime(time.Now().Add(-10 * time.Hour)),
			Annotations: map[string]string{
				auth.DisplayNameAnnotation: "Payments",
				auth.DescriptionAnnotation: "Card and wallet payments.",
			},
		},
		Spec: auth.ProjectSpec{
			Clusters: []auth.ProjectCluster{{Name: "global"}, {Name: "edge-1"}},
			Members: []auth.ProjectMember{
				{Kind: auth.MemberKindUser, Name: "alice", Role: auth.ProjectRoleAdmin},
				{Kind: auth.MemberKindGroup, Name: "auditors", Role: auth.ProjectRoleAuditor},
			},
		},
		Status: auth.ProjectStatus{
			Phase:      auth.ProjectActive,
			Namespaces: []string{name + "-api", name + "-web", name + "-jobs"},
		},
	}
}

func TestTableColumns(t *testing.T) {
	table, err := tableConvertor{}.ConvertToTable(context.Background(), tableProject("payments"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// kubectl prints column names upper-cased; compare what users read.
	// Priority 1 columns appear with -o wide only.
	type column struct {
		name     string
		priority int32
	}
	want := []column{
		{"NAME", 0}, {"DISPLAY-NAME", 0}, {"CLUSTERS", 0}, {"NAMESPACES", 0},
		{"MEMBERS", 0}, {"STATUS", 0}, {"AGE", 0}, {"DESCRIPTION", 1},
	}
	var got []column
	for _, c := range table.ColumnDefinitions {
		got = append(got, column{strings.ToUpper(c.Name), c.Priority})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
}

func TestTableCells(t *testing.T) {
	tests := []struct {
		name    string
		project *auth.Project
		want    []interface{}
	}{
		{
			name:    "every column filled",
			project: tableProject("payments"),
			want:    []interface{}{"payments", "Payments", "global,edge-1", int64(3), int64(2), "Active", "10h", "Card and wallet payments."},
		},
		{
			name:    "nothing but a name",
			project: &auth.Project{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
			want:    []interface{}{"empty", "", "", int64(0), int64(0), "", "<unknown>", ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := tableConvertor{}.ConvertToTable(context.Background(), tc.project, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			row := table.Rows[0]
			if !reflect.DeepEqual(row.Cells, tc.want) {
				t.Errorf("cells = %#v, want %#v", row.Cells, tc.want)
			}
			if len(row.Cells) != len(table.ColumnDefinitions) {
				t.Errorf("%d cells for %d columns", len(row.Cells), len(table.ColumnDefinitions))
			}
			// kubectl -o wide and custom columns read the object from the row.
			if project, ok := row.Object.Object.(*auth.Project); !ok || project.Name != tc.project.Name {
				t.Errorf("row object = %#v, want the project %q", row.Object.Object, tc.project.Name)
			}
		})
	}
}

func TestTableHeaders(t *testing.T) {
	tests := []struct {
		name        string
		options     runtime.Object
		wantHeaders bool
	}{
		{name: "no options", options: nil, wantHeaders: true},
		{name: "default options", options: &metav1.TableOptions{}, wantHeaders: true},
		{name: "no headers", options: &metav1.TableOptions{NoHeaders: true}, wantHeaders: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := tableConvertor{}.ConvertToTable(context.Background(), tableProject("payments"), tc.options)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(table.ColumnDefinitions) > 0; got != tc.wantHeaders {
				t.Errorf("headers present = %v, want %v", got, tc.wantHeaders)
			}
			// Without headers the rows still come, as kubectl asks for them
			// again on every page of a chunked list.
			if len(table.Rows) != 1 {
				t.Errorf("got %d rows, want 1", len(table.Rows))
			}
		})
	}
}

func TestTableOfList(t *testing.T) {
	remaining := int64(5)
	list := &auth.ProjectList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page", RemainingItemCount: &remaining},
		Items:    []auth.Project{*tableProject("payments"), *tableProject("billing")},
	}
	table, err := tableConvertor{}.ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatal(err)
	}

	var names []interface{}
	for _, row := range table.Rows {
		names = append(names, row.Cells[0])
	}
	if want := []interface{}{"payments", "billing"}; !reflect.DeepEqual(names, want) {
		t.Errorf("rows name %v, want %v", names, want)
	}
	// Paging and watching from a table need the list's metadata.
	if table.ResourceVersion != "42" || table.Continue != "next-page" {
		t.Errorf("resourceVersion, continue = %q, %q; want \"42\", \"next-page\"", table.ResourceVersion, table.Continue)
	}
	if table.RemainingItemCount == nil || *table.RemainingItemCount != remaining {
		t.Errorf("remainingItemCount = %v, want %d", table.RemainingItemCount, remaining)
	}
}

func TestTableOfAnotherKind(t *testing.T) {
	if _, err := (tableConvertor{}).ConvertToTable(context.Background(), &metav1.Status{}, nil); err == nil {
		t.Error("converting a Status gave no error")
	}
}
