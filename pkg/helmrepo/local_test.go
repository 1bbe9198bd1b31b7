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
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/acp-archon/archon/internal/charttest"
	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

func TestLocalRepositoryKeepsUploadsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	repo := types.NamespacedName{Namespace: "team", Name: "charts"}
	const uid = types.UID("uid-1")
	newLocal := func() *Local {
		store, err := NewStore(dir, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		return NewLocal(store, NewCatalog())
	}

	local := newLocal()
	for _, version := range []string{"1.0.0", "1.10.0", "1.2.0"} {
		if _, err := local.Upload(repo, uid, charttest.Chart("web", version), false); err != nil {
			t.Fatal(err)
		}
	}
	var exists *VersionExistsError
	other := charttest.Chart("web", "1.2.0", charttest.Entry{Name: "README.md", Data: []byte("changed")})
	if _, err := local.Upload(repo, uid, other, false); !errors.As(err, &exists) {
		t.Errorf("other bytes as 1.2.0: %v, want VersionExistsError", err)
	}
	if _, err := local.Upload(repo, uid, charttest.Chart("web", "1.2.0"), false); err != nil {
		t.Errorf("the same bytes as 1.2.0 again: %v, want success", err)
	}
	if _, err := local.Upload(repo, uid, other, true); err != nil {
		t.Errorf("overwriting 1.2.0: %v", err)
	}
	if err := local.Delete(repo, uid, "web", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := local.Delete(repo, uid, "web", "1.0.0"); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("deleting 1.0.0 again: %v", err)
	}

	// A new process reads the same charts from the disk.
	restarted := newLocal()
	if err := restarted.Load(repo, uid); err != nil {
		t.Fatal(err)
	}
	chart := restarted.Catalog().Get(types.NamespacedName{Namespace: "team", Name: "web.charts"})
	if chart == nil {
		t.Fatal("web.charts is gone after a restart")
	}
	var versions []string
	for _, v := range chart.Status.Versions {
		versions = append(versions, v.Version)
	}
	if got := strings.Join(versions, ","); got != "1.10.0,1.2.0" {
		t.Errorf("versions after a restart: %s, want newest first 1.10.0,1.2.0", got)
	}
	index, _, ok, err := restarted.Catalog().IndexYAML(repo)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	parsed, err := ParseIndex(index)
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Entries["web"][0].URLs[0]; got != "charts/web/web-1.10.0.tgz" {
		t.Errorf("package URL %q", got)
	}
	if parsed.Entries["web"][0].Digest == "" {
		t.Error("no digest in the index")
	}

	// Another repository with the same name later starts empty.
	if err := restarted.Load(repo, "uid-2"); err != nil {
		t.Fatal(err)
	}
	if charts, ok := restarted.Catalog().Charts(repo); !ok || charts != 0 {
		t.Errorf("a new repository of the same name: known %v with %d charts, want known and empty", ok, charts)
	}
}

func TestCatalogWatchSeesUploadsAndDeletions(t *testing.T) {
	local := NewLocal(mustStore(t), NewCatalog())
	repo := types.NamespacedName{Namespace: "team", Name: "charts"}
	if err := local.Load(repo, "uid"); err != nil {
		t.Fatal(err)
	}
	_, rv := local.Catalog().List(func(*app.Chart) bool { return true })
	w, err := local.Catalog().Watch(t.Context(), changefeed.WatchOptions{ResourceVersion: strconv.FormatUint(rv, 10)}, func(*app.Chart) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := local.Upload(repo, "uid", charttest.Chart("web", "1.0.0"), false); err != nil {
		t.Fatal(err)
	}
	if err := local.Delete(repo, "uid", "web", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []watch.EventType{watch.Added, watch.Deleted} {
		select {
		case event := <-w.ResultChan():
			if event.Type != want || event.Object.(*app.Chart).Name != "web.charts" {
				t.Errorf("event %s %v, want %s web.charts", event.Type, event.Object, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
}

func mustStore(t *testing.T) *Store {
	t.Helper()
	store, err := NewStore(t.TempDir(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestReplicasSharingAStoreSeeEachOthersWrites(t *testing.T) {
	store := mustStore(t)
	a, b := NewLocal(store, NewCatalog()), NewLocal(store, NewCatalog())
	repo := types.NamespacedName{Namespace: "team", Name: "charts"}
	versions := func(l *Local) string {
		if err := l.Load(repo, "uid"); err != nil {
			t.Fatal(err)
		}
		chart := l.Catalog().Get(types.NamespacedName{Namespace: "team", Name: "web.charts"})
		if chart == nil {
			return ""
		}
		var out []string
		for _, v := range chart.Status.Versions {
			out = append(out, v.Version)
		}
		return strings.Join(out, ",")
	}
	if got := versions(b); got != "" {
		t.Fatalf("an empty repository: %q", got)
	}
	if _, err := a.Upload(repo, "uid", charttest.Chart("web", "1.0.0"), false); err != nil {
		t.Fatal(err)
	}
	if got := versions(b); got != "1.0.0" {
		t.Errorf("the other replica after an upload: %q", got)
	}
	if _, err := b.Upload(repo, "uid", charttest.Chart("web", "2.0.0"), false); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(repo, "uid", "web", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if got := versions(a); got != "2.0.0" {
		t.Errorf("the first replica after the other's upload and deletion: %q", got)
	}
}

func TestChartsWhosePackageNamesCoincideStayApart(t *testing.T) {
	local := NewLocal(mustStore(t), NewCatalog())
	repo := types.NamespacedName{Namespace: "team", Name: "charts"}
	// a-1-0.0.1.tgz names both: chart a at 1-0.0.1 and chart a-1 at 0.0.1.
	if _, err := local.Upload(repo, "uid", charttest.Chart("a-1", "0.0.1"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Upload(repo, "uid", charttest.Chart("a", "1-0.0.1"), false); err != nil {
		t.Errorf("chart a at 1-0.0.1 after a-1 at 0.0.1: %v", err)
	}
	if err := local.Delete(repo, "uid", "a", "1-0.0.1"); err != nil {
		t.Fatal(err)
	}
	reread := NewLocal(local.Store(), NewCatalog())
	if err := reread.Load(repo, "uid"); err != nil {
		t.Fatal(err)
	}
	if _, ok := reread.Catalog().Version(repo, "a-1", "0.0.1"); !ok {
		t.Error("deleting a 1-0.0.1 took a-1 0.0.1 with it")
	}
}

func TestConcurrentUploadsReadsAndDeletionsKeepEveryVersion(t *testing.T) {
	local := NewLocal(mustStore(t), NewCatalog())
	repos := []types.NamespacedName{{Namespace: "a", Name: "charts"}, {Namespace: "b", Name: "charts"}}
	const versions = 20
	var wg sync.WaitGroup
	for r, repo := range repos {
		uid := types.UID(fmt.Sprintf("uid-%d", r))
		for v := 0; v < versions; v++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := local.Upload(repo, uid, charttest.Chart("web", fmt.Sprintf("1.0.%d", v)), false); err != nil {
					t.Error(err)
				}
				if v%5 == 0 {
					if err := local.Delete(repo, uid, "web", fmt.Sprintf("1.0.%d", v)); err != nil {
						t.Error(err)
					}
				}
			}()
			go func() {
				defer wg.Done()
				if err := local.Load(repo, uid); err != nil {
					t.Error(err)
				}
				if _, _, _, err := local.Catalog().IndexYAML(repo); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for r, repo := range repos {
		chart := local.Catalog().Get(types.NamespacedName{Namespace: repo.Namespace, Name: "web.charts"})
		if chart == nil || len(chart.Status.Versions) != versions-versions/5 {
			t.Errorf("repository %d: %+v, want %d versions", r, chart, versions-versions/5)
		}
		reread := NewLocal(local.Store(), NewCatalog())
		if err := reread.Load(repo, types.UID(fmt.Sprintf("uid-%d", r))); err != nil {
			t.Fatal(err)
		}
		if again := reread.Catalog().Get(types.NamespacedName{Namespace: repo.Namespace, Name: "web.charts"}); again == nil || len(again.Status.Versions) != versions-versions/5 {
			t.Errorf("repository %d read again from the store: %+v", r, again)
		}
	}
}

// Two replicas sharing the chart directory, each with its own locks,
// racing to store one version with different bytes: one succeeds, the
// other is told the version exists; the same bytes again succeed.
func TestReplicasCreateAVersionOnce(t *testing.T) {
	dir := t.TempDir()
	replicas := make([]*Local, 2)
	for i := range replicas {
		store, err := NewStore(dir, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = NewLocal(store, NewCatalog())
	}
	repo := types.NamespacedName{Namespace: "team", Name: "charts"}
	for round := 0; round < 20; round++ {
		version := fmt.Sprintf("1.0.%d", round)
		archives := [][]byte{
			charttest.Chart("web", version, charttest.Entry{Name: "replica", Data: []byte("a")}),
			charttest.Chart("web", version, charttest.Entry{Name: "replica", Data: []byte("b")}),
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = replicas[i].Upload(repo, "uid", archives[i], false)
			}()
		}
		wg.Wait()
		winner, exists := -1, 0
		for i, err := range errs {
			var conflict *VersionExistsError
			switch {
			case err == nil:
				winner = i
			case errors.As(err, &conflict):
				exists++
			default:
				t.Fatal(err)
			}
		}
		if winner < 0 || exists != 1 {
			t.Fatalf("round %d: %v, want one upload stored and one told the version exists", round, errs)
		}
		if _, err := replicas[1-winner].Upload(repo, "uid", archives[winner], false); err != nil {
			t.Errorf("round %d: the stored bytes again: %v, want success", round, err)
		}
	}
}
