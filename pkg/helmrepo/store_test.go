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

package helmrepo

import (
	"reflect"
	"testing"

	"github.com/acp-archon/archon/internal/charttest"
)

// TestPutAnswersWhatTheIndexSays stores a package, then reads the index
// as another replica would (no cache): the entry an upload returns is the
// entry the index lists, creation time and digest included, whether the
// upload created the file or found the same bytes stored.
func TestPutAnswersWhatTheIndexSays(t *testing.T) {
	store, err := NewStore(t.TempDir(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	archive := charttest.Chart("web", "1.0.0")
	loaded, err := LoadArchive(archive, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, round := range []string{"created", "same bytes again"} {
		stored, err := store.Put("uid", archive, loaded, false)
		if err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		fresh, err := NewStore(store.dir, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		index, err := fresh.Index("uid")
		if err != nil {
			t.Fatal(err)
		}
		if len(index.Entries["web"]) != 1 {
			t.Fatalf("%s: index entries %v, want one version of web", round, index.Entries)
		}
		if listed := index.Entries["web"][0]; !reflect.DeepEqual(stored, listed) {
			t.Fatalf("%s: upload answered %+v, the index lists %+v", round, stored, listed)
		}
	}
}
