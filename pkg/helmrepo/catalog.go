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
	"context"
	"strconv"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// catalogHistory is how many chart changes watches can resume across.
const catalogHistory = 4096

// Catalog holds the index of every chart repository archon knows and
// serves it as Charts: a Chart per chart per repository. Local
// repositories' indexes come from the Store, remote ones' from their last
// good synchronization.
type Catalog struct {
	mu           sync.RWMutex
	repositories map[types.NamespacedName]*repositoryIndex
	charts       map[types.NamespacedName]*app.Chart
	revision     uint64
	feed         *changefeed.Feed[*app.Chart]
}

// repositoryIndex is one repository's index and its rendering for helm.
type repositoryIndex struct {
	uid   types.UID
	index *IndexFile
	// rendered is index.yaml, made on the first read after a change.
	rendered []byte
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	c := &Catalog{repositories: map[types.NamespacedName]*repositoryIndex{}, charts: map[types.NamespacedName]*app.Chart{}}
	c.feed = changefeed.New(&c.mu, catalogHistory, func() *app.Chart { return &app.Chart{} })
	// As for images: revisions start at start-up time, so that a watch
	// resuming from another process lists again.
	c.revision = uint64(time.Now().UnixMicro())
	c.feed.Reset(c.revision)
	c.feed.Advance(c.revision)
	c.feed.RejectFutureResourceVersions()
	return c
}

// ChartObjectName is the name of the Chart of chart in repository.
func ChartObjectName(chart, repository string) string { return chart + "." + repository }

// Has says whether the catalog holds the index of the repository with uid.
func (c *Catalog) Has(repository types.NamespacedName, uid types.UID) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.repositories[repository]
	return ok && r.uid == uid
}

// SetIndex replaces the index of a repository.
func (c *Catalog) SetIndex(repository types.NamespacedName, uid types.UID, index *IndexFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repositories[repository] = &repositoryIndex{uid: uid, index: index}
	c.updateCharts(repository, index)
}

// AddVersion adds a version to a repository's index, replacing one of the
// same version.
func (c *Catalog) AddVersion(repository types.NamespacedName, version *ChartVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.repositories[repository]
	if !ok {
		return // not loaded yet: loading reads the version from the store
	}
	entries := withoutVersion(r.index.Entries[version.Name], version.Version)
	entries = append(entries, version)
	sortVersions(entries)
	r.index = r.index.with(version.Name, entries)
	r.rendered = nil
	c.updateCharts(repository, r.index)
}

// RemoveVersion removes a version from a repository's index.
func (c *Catalog) RemoveVersion(repository types.NamespacedName, chart, version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.repositories[repository]
	if !ok {
		return
	}
	r.index = r.index.with(chart, withoutVersion(r.index.Entries[chart], version))
	r.rendered = nil
	c.updateCharts(repository, r.index)
}

// Remove forgets a repository and its charts.
func (c *Catalog) Remove(repository types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.repositories, repository)
	c.updateCharts(repository, &IndexFile{})
}

// Charts counts the charts of a repository; false when its index is not
// held.
func (c *Catalog) Charts(repository types.NamespacedName) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.repositories[repository]
	if !ok {
		return 0, false
	}
	return r.index.Charts(), true
}

// IndexYAML renders a repository's index.yaml; false when it is not held.
func (c *Catalog) IndexYAML(repository types.NamespacedName) ([]byte, time.Time, bool, error) {
	c.mu.RLock()
	r, ok := c.repositories[repository]
	if ok && r.rendered != nil {
		defer c.mu.RUnlock()
		return r.rendered, r.index.Generated, true, nil
	}
	c.mu.RUnlock()
	if !ok {
		return nil, time.Time{}, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok = c.repositories[repository]; !ok {
		return nil, time.Time{}, false, nil
	}
	if r.rendered == nil {
		rendered, err := r.index.Marshal()
		if err != nil {
			return nil, time.Time{}, false, err
		}
		r.rendered = rendered
	}
	return r.rendered, r.index.Generated, true, nil
}

// Version finds a version of a chart in a repository's index.
func (c *Catalog) Version(repository types.NamespacedName, chart, version string) (*ChartVersion, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.repositories[repository]
	if !ok {
		return nil, false
	}
	for _, v := range r.index.Entries[chart] {
		if v.Version == version {
			return v, true
		}
	}
	return nil, false
}

// updateCharts makes the repository's Charts match its index and records
// the changes; c.mu is held.
func (c *Catalog) updateCharts(repository types.NamespacedName, index *IndexFile) {
	for key, old := range c.charts {
		if key.Namespace == repository.Namespace && old.Labels[app.ChartRepoLabel] == repository.Name {
			if _, kept := index.Entries[old.Labels[app.ChartNameLabel]]; !kept {
				c.store(key, nil)
			}
		}
	}
	for name, versions := range index.Entries {
		key := types.NamespacedName{Namespace: repository.Namespace, Name: ChartObjectName(name, repository.Name)}
		c.store(key, chartObject(key, repository.Name, name, versions))
	}
}

func chartObject(key types.NamespacedName, repository, name string, versions []*ChartVersion) *app.Chart {
	chart := &app.Chart{ObjectMeta: metav1.ObjectMeta{
		Namespace: key.Namespace,
		Name:      key.Name,
		Labels:    map[string]string{app.ChartRepoLabel: repository, app.ChartNameLabel: name},
	}}
	for _, v := range versions {
		version := app.ChartVersion{Version: v.Version, AppVersion: v.AppVersion, Description: v.Description, Digest: v.Digest}
		if !v.Created.IsZero() {
			created := metav1.NewTime(v.Created)
			version.Created = &created
		}
		chart.Status.Versions = append(chart.Status.Versions, version)
	}
	return chart
}

// store records a Chart's new state, nil for none; c.mu is held.
func (c *Catalog) store(key types.NamespacedName, chart *app.Chart) {
	old := c.charts[key]
	switch {
	case chart == nil && old == nil:
		return
	case chart != nil && old != nil && apiequality.Semantic.DeepEqual(old.Status, chart.Status) && apiequality.Semantic.DeepEqual(old.Labels, chart.Labels):
		return
	}
	c.revision++
	change := changefeed.Change[*app.Chart]{ResourceVersion: c.revision, Old: old, Current: chart, Last: chart}
	if chart == nil {
		gone := old.DeepCopy()
		gone.ResourceVersion = strconv.FormatUint(c.revision, 10)
		change.Last = gone
		delete(c.charts, key)
	} else {
		chart.ResourceVersion = strconv.FormatUint(c.revision, 10)
		if old != nil {
			chart.CreationTimestamp, chart.UID = old.CreationTimestamp, old.UID
		} else {
			chart.CreationTimestamp = metav1.Now()
			chart.UID = types.UID(key.Namespace + "/" + key.Name + "@" + strconv.FormatUint(c.revision, 10))
		}
		c.charts[key] = chart
	}
	c.feed.Record(change)
}

// List returns copies of the Charts visible accepts, by namespace and
// name, and the revision they are current at.
func (c *Catalog) List(visible func(*app.Chart) bool) ([]app.Chart, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sorted := c.sorted(visible)
	charts := make([]app.Chart, 0, len(sorted))
	for _, chart := range sorted {
		charts = append(charts, *chart.DeepCopy())
	}
	return charts, c.revision
}

// Get returns a copy of a Chart; nil when there is none.
func (c *Catalog) Get(key types.NamespacedName) *app.Chart {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if chart, ok := c.charts[key]; ok {
		return chart.DeepCopy()
	}
	return nil
}

// Watch streams the changes of the Charts visible accepts.
func (c *Catalog) Watch(ctx context.Context, opts changefeed.WatchOptions, visible func(*app.Chart) bool) (watch.Interface, error) {
	return c.feed.Watch(ctx, opts, visible, func() []*app.Chart { return c.sorted(visible) })
}

func (c *Catalog) sorted(visible func(*app.Chart) bool) []*app.Chart {
	return changefeed.Sorted(c.charts, visible)
}

func withoutVersion(versions []*ChartVersion, version string) []*ChartVersion {
	kept := make([]*ChartVersion, 0, len(versions))
	for _, v := range versions {
		if v.Version != version {
			kept = append(kept, v)
		}
	}
	return kept
}

// with returns a copy of the index whose chart has versions (none removes
// it), generated now; indexes are shared read-only once rendered.
func (i *IndexFile) with(chart string, versions []*ChartVersion) *IndexFile {
	out := &IndexFile{APIVersion: "v1", Generated: time.Now().UTC(), Entries: make(map[string][]*ChartVersion, len(i.Entries)+1)}
	for name, v := range i.Entries {
		out.Entries[name] = v
	}
	if len(versions) == 0 {
		delete(out.Entries, chart)
	} else {
		out.Entries[chart] = versions
	}
	return out
}
