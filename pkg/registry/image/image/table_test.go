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

package image

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
)

func TestTableShowsTheLatestTag(t *testing.T) {
	built := func(ago time.Duration) *metav1.Time { return &metav1.Time{Time: time.Now().Add(-ago)} }
	list := &imageapi.ImageList{Items: []imageapi.Image{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "tools~go", Namespace: "team-a"},
			Status: imageapi.ImageStatus{Repository: "team-a/tools/go", Tags: []imageapi.ImageTag{
				{Name: "v1", Size: 1 << 20, Created: built(48 * time.Hour)},
				{Name: "v2", Size: 3 << 29, Created: built(5 * time.Hour)},
				{Name: "dev", Size: 10, Created: built(72 * time.Hour)},
			}},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "scratch", Namespace: "team-a"},
			Status:     imageapi.ImageStatus{Repository: "team-a/scratch", Tags: []imageapi.ImageTag{{Name: "a", Size: 512}, {Name: "b", Size: 100}}},
		},
	}}
	table, err := (&REST{}).ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]interface{}{
		{"tools~go", int64(3), "v2", "1.5GiB", "5h", "team-a/tools/go"},
		{"scratch", int64(2), "b", "100B", "<unknown>", "team-a/scratch"},
	}
	if len(table.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(table.Rows), len(want), table.Rows)
	}
	for i, row := range table.Rows {
		if len(row.Cells) != len(want[i]) || len(row.Cells) != len(table.ColumnDefinitions) {
			t.Errorf("row %d has %d cells for %d columns, want %d: %v", i, len(row.Cells), len(table.ColumnDefinitions), len(want[i]), row.Cells)
			continue
		}
		for j, cell := range row.Cells {
			if cell != want[i][j] {
				t.Errorf("row %d column %s = %v, want %v", i, table.ColumnDefinitions[j].Name, cell, want[i][j])
			}
		}
	}
}
