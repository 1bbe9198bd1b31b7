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

package visibility

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

const (
	// historySize is how many recent changes the index keeps so that a
	// watch can resume from a resourceVersion it returned earlier.
	historySize = 4096
	// readyTimeout bounds how long a request waits for the first sync.
	readyTimeout = 30 * time.Second
	// relistBackoff spaces relists after the store's watch fails.
	relistBackoff = time.Second
)

// Source is where the index reads projects: the project store.
type Source interface {
	List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error)
	Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error)
}

type change = changefeed.Change[*auth.Project]

// Index maps subjects to the projects they are members of and fans project
// changes out to watchers, each seeing only its own projects.
type Index struct {
	mu        sync.RWMutex
	projects  map[string]*auth.Project
	bySubject map[subject]sets.Set[string]
	feed      *changefeed.Feed[*auth.Project]

	synced     chan struct{}
	syncedOnce sync.Once
}

// NewIndex returns an empty index; Run fills it.
func NewIndex() *Index {
	ix := &Index{
		projects:  map[string]*auth.Project{},
		bySubject: map[subject]sets.Set[string]{},
		synced:    make(chan struct{}),
	}
	ix.feed = changefeed.New(&ix.mu, historySize, func() *auth.Project { return &auth.Project{} })
	return ix
}

// Run keeps the index in step with source until ctx is done.
func (ix *Index) Run(ctx context.Context, source Source) {
	ctx = genericapirequest.WithNamespace(ctx, metav1NamespaceNone)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := ix.listAndWatch(ctx, source); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Project visibility index lost its watch; listing again")
		}
	}, relistBackoff)
}

const metav1NamespaceNone = ""

func (ix *Index) listAndWatch(ctx context.Context, source Source) error {
	listed, err := source.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing projects: %w", err)
	}
	list := listed.(*auth.ProjectList)
	listRV, err := changefeed.ParseResourceVersion(list.ResourceVersion)
	if err != nil {
		return err
	}
	ix.replace(list.Items, listRV)

	w, err := source.Watch(ctx, &metainternalversion.ListOptions{
		ResourceVersion:     list.ResourceVersion,
		AllowWatchBookmarks: true,
	})
	if err != nil {
		return fmt.Errorf("watching projects: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case event, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("project watch closed")
			}
			if err := ix.observe(event); err != nil {
				return err
			}
		}
	}
}

func (ix *Index) observe(event watch.Event) error {
	if event.Type == watch.Error {
		return apierrors.FromObject(event.Object)
	}
	obj := event.Object
	// The watch cache wraps objects to share their serializations.
	if cacheable, ok := obj.(runtime.CacheableObject); ok {
		obj = cacheable.GetObject()
	}
	project, ok := obj.(*auth.Project)
	if !ok {
		return fmt.Errorf("unexpected %T in project watch", event.Object)
	}
	rv, err := changefeed.ParseResourceVersion(project.ResourceVersion)
	if err != nil {
		return err
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	switch event.Type {
	case watch.Bookmark:
		ix.feed.Advance(rv)
	case watch.Added, watch.Modified:
		ix.record(change{ResourceVersion: rv, Old: ix.projects[project.Name], Current: project, Last: project})
	case watch.Deleted:
		ix.record(change{ResourceVersion: rv, Old: ix.projects[project.Name], Last: project})
	}
	return nil
}

// replace makes the index hold exactly projects, as of rv, telling watchers
// what changed since the state they saw.
func (ix *Index) replace(projects []auth.Project, rv uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	seen := sets.New[string]()
	for i := range projects {
		project := &projects[i]
		seen.Insert(project.Name)
		if old := ix.projects[project.Name]; old == nil || old.ResourceVersion != project.ResourceVersion {
			ix.record(change{ResourceVersion: rv, Old: old, Current: project, Last: project})
		}
	}
	for name, old := range ix.projects {
		if !seen.Has(name) {
			ix.record(change{ResourceVersion: rv, Old: old, Last: old})
		}
	}
	// What happened before the list is unknown: watches must start at or
	// after it.
	ix.feed.Reset(rv)
	ix.feed.Advance(rv)
	ix.syncedOnce.Do(func() { close(ix.synced) })
}

// record applies a change to the maps and tells the watchers; ix.mu is held.
func (ix *Index) record(c change) {
	name := c.Last.Name
	if c.Old != nil {
		for i := range c.Old.Spec.Members {
			key := memberSubject(&c.Old.Spec.Members[i])
			if names := ix.bySubject[key]; names != nil {
				names.Delete(name)
				if names.Len() == 0 {
					delete(ix.bySubject, key)
				}
			}
		}
	}
	if c.Current == nil {
		delete(ix.projects, name)
	} else {
		ix.projects[name] = c.Current
		for i := range c.Current.Spec.Members {
			key := memberSubject(&c.Current.Spec.Members[i])
			if ix.bySubject[key] == nil {
				ix.bySubject[key] = sets.New[string]()
			}
			ix.bySubject[key].Insert(name)
		}
	}

	ix.feed.Record(c)
}

func (ix *Index) waitForSync(ctx context.Context) error {
	select {
	case <-ix.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(readyTimeout):
		return apierrors.NewServiceUnavailable("the project visibility index has not synced yet")
	}
}

// visibleProjects are the projects of subjects that visible accepts, by
// name; ix.mu is held.
func (ix *Index) visibleProjects(subjects []subject, visible func(*auth.Project) bool) []*auth.Project {
	names := sets.New[string]()
	for _, s := range subjects {
		names = names.Union(ix.bySubject[s])
	}
	var projects []*auth.Project
	for _, name := range sets.List(names) {
		if visible(ix.projects[name]) {
			projects = append(projects, ix.projects[name])
		}
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i].Name < projects[j].Name })
	return projects
}
