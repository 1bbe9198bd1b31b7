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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/storage"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

const (
	// watcherBuffer is how many changes a watcher may fall behind before it
	// is closed; its client then resumes from the last resourceVersion.
	watcherBuffer = 1024
	// bookmarkInterval spaces bookmarks for watchers that asked for them.
	bookmarkInterval = 30 * time.Second
)

// WatchOptions are the parts of a watch request the index honours.
type WatchOptions struct {
	ResourceVersion   string
	SendInitialEvents bool
	Bookmarks         bool
}

// Watch streams the changes of the user's projects that match predicate. Membership granted shows as ADDED, membership revoked as
// DELETED. Like kube-apiserver's watch cache it starts with ADDED events for
// the current state when resourceVersion is "" or "0" or initial events are
// asked for, and replays recent history when resuming from a
// resourceVersion.
func (ix *Index) Watch(ctx context.Context, u user.Info, predicate storage.SelectionPredicate, opts WatchOptions) (watch.Interface, error) {
	if err := ix.waitForSync(ctx); err != nil {
		return nil, err
	}
	from, err := parseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}

	w := &projectWatcher{
		floor:     from,
		subjects:  userSubjects(u),
		predicate: predicate,
		bookmarks: opts.Bookmarks,
		incoming:  make(chan watch.Event, watcherBuffer),
		result:    make(chan watch.Event),
		done:      make(chan struct{}),
	}
	ix.mu.Lock()
	var initial []watch.Event
	switch {
	case opts.SendInitialEvents || from == 0:
		for _, project := range ix.visibleProjects(w) {
			initial = append(initial, watch.Event{Type: watch.Added, Object: project.DeepCopy()})
		}
		if opts.SendInitialEvents {
			initial = append(initial, watch.Event{Type: watch.Bookmark, Object: bookmark(ix.resourceVersion, true)})
		}
	case from < ix.historyStart:
		ix.mu.Unlock()
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, ix.historyStart))
	default:
		for _, c := range ix.history {
			if c.resourceVersion > from {
				if event, ok := w.translate(c); ok {
					initial = append(initial, event)
				}
			}
		}
	}
	w.lastSeen.Store(max(ix.resourceVersion, from))
	w.stopIndex = func() {
		ix.mu.Lock()
		delete(ix.watchers, w)
		ix.mu.Unlock()
	}
	ix.watchers[w] = struct{}{}
	ix.mu.Unlock()

	go w.run(ctx, initial)
	return w, nil
}

// projectWatcher is one client's watch.
type projectWatcher struct {
	// floor is the resourceVersion the client already has: a list served
	// by the store can be newer than the index, and changes up to it are
	// not sent again.
	floor     uint64
	subjects  []subject
	predicate storage.SelectionPredicate
	bookmarks bool

	// incoming receives changes from the index without blocking it; run
	// forwards them to result at the client's pace.
	incoming chan watch.Event
	result   chan watch.Event
	lastSeen atomic.Uint64

	done      chan struct{}
	stopOnce  sync.Once
	stopIndex func()
	// overflowed is set, with the index lock held, when the client fell too
	// far behind; incoming is then closed and no longer written.
	overflowed bool
}

func (w *projectWatcher) ResultChan() <-chan watch.Event { return w.result }

func (w *projectWatcher) Stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.stopIndex()
	})
}

func (w *projectWatcher) visible(project *auth.Project) bool {
	if project == nil || !isMember(project, w.subjects) {
		return false
	}
	matches, err := w.predicate.Matches(project)
	return err == nil && matches
}

// translate turns a change of the collection into what this watcher sees.
func (w *projectWatcher) translate(c change) (watch.Event, bool) {
	was, is := w.visible(c.old), w.visible(c.current)
	switch {
	case !was && is:
		return watch.Event{Type: watch.Added, Object: c.current.DeepCopy()}, true
	case was && is:
		return watch.Event{Type: watch.Modified, Object: c.current.DeepCopy()}, true
	case was && !is:
		return watch.Event{Type: watch.Deleted, Object: c.last.DeepCopy()}, true
	}
	return watch.Event{}, false
}

// dispatch is called by the index, with its lock held, for every change.
func (w *projectWatcher) dispatch(c change) {
	if w.overflowed || c.resourceVersion <= w.floor {
		return
	}
	event, ok := w.translate(c)
	if !ok {
		return
	}
	select {
	case w.incoming <- event:
	default:
		w.overflowed = true
		close(w.incoming)
	}
}

// seen records that the index has reached rv; index lock held.
func (w *projectWatcher) seen(rv uint64) { w.lastSeen.Store(max(rv, w.floor)) }

func (w *projectWatcher) run(ctx context.Context, initial []watch.Event) {
	defer close(w.result)
	defer w.Stop()
	for _, event := range initial {
		if !w.send(ctx, event) {
			return
		}
	}
	var ticks <-chan time.Time
	if w.bookmarks {
		ticker := time.NewTicker(bookmarkInterval)
		defer ticker.Stop()
		ticks = ticker.C
	}
	for {
		select {
		case event, ok := <-w.incoming:
			if !ok {
				return // fell behind; the client resumes with a new watch
			}
			if !w.send(ctx, event) {
				return
			}
		case <-ticks:
			// The index stores lastSeen after queueing the changes it covers,
			// so an empty queue after the load means they were all sent.
			rv := w.lastSeen.Load()
			if len(w.incoming) > 0 {
				continue
			}
			if !w.send(ctx, watch.Event{Type: watch.Bookmark, Object: bookmark(rv, false)}) {
				return
			}
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (w *projectWatcher) send(ctx context.Context, event watch.Event) bool {
	select {
	case w.result <- event:
		return true
	case <-w.done:
		return false
	case <-ctx.Done():
		return false
	}
}

func bookmark(rv uint64, initialEventsEnd bool) *auth.Project {
	project := &auth.Project{ObjectMeta: metav1.ObjectMeta{ResourceVersion: strconv.FormatUint(rv, 10)}}
	if initialEventsEnd {
		project.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return project
}
