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

// Package changefeed serves watches over a collection an owner keeps in
// memory rather than in etcd: it keeps the recent changes, replays them to
// watches resuming from a resourceVersion, fans new changes out to every
// watch (each seeing only the objects visible to it), and sends initial
// events and bookmarks the way kube-apiserver's watch cache does.
package changefeed

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	// WatcherBuffer is how many changes a watcher may fall behind before it
	// is closed; its client then resumes from the last resourceVersion.
	WatcherBuffer = 1024
	// bookmarkInterval spaces bookmarks for watchers that asked for them.
	bookmarkInterval = 30 * time.Second
)

// Object is what a feed carries: pointers to API objects.
type Object interface {
	comparable
	runtime.Object
}

// Change is one step of the collection. A zero Old is a creation, a zero
// Current a deletion; Last is the newest state either way.
type Change[T Object] struct {
	ResourceVersion uint64
	Old, Current    T
	Last            T
}

// Feed holds the recent changes of a collection and its watchers.
//
// Locking: the owner's lock (given to New) guards the feed. The owner calls
// Record, Reset, Advance and ResourceVersion with it held, as part of the
// change it makes to its collection; Watch takes the lock itself, and so
// does a watcher leaving.
type Feed[T Object] struct {
	lock      sync.Locker
	newObject func() T

	resourceVersion uint64
	// history holds the latest changes in a ring, oldest at historyHead;
	// every change newer than historyStart is in it.
	history      []Change[T]
	historyHead  int
	historyLen   int
	historyStart uint64
	watchers     map[*watcher[T]]struct{}
	// rejectFuture refuses watches from a resourceVersion the feed has not
	// reached, for owners whose lists come from the feed itself.
	rejectFuture bool
}

// RejectFutureResourceVersions makes watches from a resourceVersion the
// feed has not reached fail with 410 Gone, so that their clients list
// again. Owners serving lists from the feed use it: such a version comes
// from another process. Owners whose lists come from elsewhere (newer than
// the feed for a moment) do not. Call it right after New, before any
// Watch.
func (f *Feed[T]) RejectFutureResourceVersions() { f.rejectFuture = true }

// New returns a feed guarded by lock, keeping the latest historySize
// changes (at least one); newObject makes the empty objects bookmarks
// carry.
func New[T Object](lock sync.Locker, historySize int, newObject func() T) *Feed[T] {
	return &Feed[T]{
		lock:      lock,
		newObject: newObject,
		history:   make([]Change[T], max(historySize, 1)),
		watchers:  map[*watcher[T]]struct{}{},
	}
}

// ResourceVersion returns the newest resourceVersion the feed has reached.
func (f *Feed[T]) ResourceVersion() uint64 { return f.resourceVersion }

// Record adds a change and tells the watchers. With the history full, the
// oldest change makes room in constant time.
func (f *Feed[T]) Record(c Change[T]) {
	if f.historyLen == len(f.history) {
		f.historyStart = f.history[f.historyHead].ResourceVersion
		f.history[f.historyHead] = c
		f.historyHead = (f.historyHead + 1) % len(f.history)
	} else {
		f.history[(f.historyHead+f.historyLen)%len(f.history)] = c
		f.historyLen++
	}
	for w := range f.watchers {
		w.dispatch(c)
	}
	f.Advance(c.ResourceVersion)
}

// Reset forgets the history: what happened before rv is unknown, and
// watches must start at or after it.
func (f *Feed[T]) Reset(rv uint64) {
	clear(f.history)
	f.historyHead, f.historyLen = 0, 0
	f.historyStart = rv
}

// historyAfter returns the changes newer than rv, oldest first.
func (f *Feed[T]) historyAfter(rv uint64) []Change[T] {
	var after []Change[T]
	for i := range f.historyLen {
		if c := f.history[(f.historyHead+i)%len(f.history)]; c.ResourceVersion > rv {
			after = append(after, c)
		}
	}
	return after
}

// Advance moves the feed to rv without a change (a bookmark of the source).
func (f *Feed[T]) Advance(rv uint64) {
	if rv > f.resourceVersion {
		f.resourceVersion = rv
	}
	for w := range f.watchers {
		w.seen(f.resourceVersion)
	}
}

// WatchOptions are the parts of a watch request the feed honors.
type WatchOptions struct {
	ResourceVersion   string
	SendInitialEvents bool
	Bookmarks         bool
}

// Watch streams the changes of the objects visible says this watch sees.
// Objects becoming visible show as ADDED, ceasing to be as DELETED. Like
// kube-apiserver's watch cache it starts with ADDED events for current()
// (called with the lock held) when resourceVersion is "" or "0" or initial
// events are asked for, and replays recent history when resuming from a
// resourceVersion.
func (f *Feed[T]) Watch(ctx context.Context, opts WatchOptions, visible func(T) bool, current func() []T) (watch.Interface, error) {
	from, err := ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	var zero T
	w := &watcher[T]{
		floor:     from,
		visible:   func(obj T) bool { return obj != zero && visible(obj) },
		bookmarks: opts.Bookmarks,
		newObject: f.newObject,
		incoming:  make(chan watch.Event, WatcherBuffer),
		result:    make(chan watch.Event),
		done:      make(chan struct{}),
	}
	initial, err := f.add(w, opts, from, current)
	if err != nil {
		return nil, err
	}
	go w.run(ctx, initial)
	return w, nil
}

// add registers the watcher from resourceVersion from and returns the
// events it starts with; under the lock, so that no change falls between
// them and the first change the watcher is sent.
func (f *Feed[T]) add(w *watcher[T], opts WatchOptions, from uint64, current func() []T) ([]watch.Event, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	var initial []watch.Event
	switch {
	case opts.SendInitialEvents || from == 0:
		for _, obj := range current() {
			initial = append(initial, watch.Event{Type: watch.Added, Object: obj.DeepCopyObject()})
		}
		if opts.SendInitialEvents {
			initial = append(initial, watch.Event{Type: watch.Bookmark, Object: w.bookmark(f.resourceVersion, true)})
		}
	case f.rejectFuture && from > f.resourceVersion:
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("resource version %d is not one of this server's (at %d)", from, f.resourceVersion))
	case from < f.historyStart:
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, f.historyStart))
	default:
		for _, c := range f.historyAfter(from) {
			if event, ok := w.translate(c); ok {
				initial = append(initial, event)
			}
		}
	}
	w.lastSeen.Store(max(f.resourceVersion, from))
	w.stopFeed = func() {
		f.lock.Lock()
		defer f.lock.Unlock()
		delete(f.watchers, w)
	}
	f.watchers[w] = struct{}{}
	return initial, nil
}

// ParseResourceVersion reads a resourceVersion of a feed; "" is 0.
func ParseResourceVersion(rv string) (uint64, error) {
	if rv == "" {
		return 0, nil
	}
	parsed, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: %v", rv, err))
	}
	return parsed, nil
}

// watcher is one client's watch.
type watcher[T Object] struct {
	// floor is the resourceVersion the client already has: a list served
	// elsewhere can be newer than the feed, and changes up to it are not
	// sent again.
	floor     uint64
	visible   func(T) bool
	bookmarks bool
	newObject func() T

	// incoming receives changes from the feed without blocking it; run
	// forwards them to result at the client's pace.
	incoming chan watch.Event
	result   chan watch.Event
	lastSeen atomic.Uint64

	done     chan struct{}
	stopOnce sync.Once
	stopFeed func()
	// overflowed is set, with the feed's lock held, when the client fell
	// too far behind; incoming is then closed and no longer written.
	overflowed bool
}

func (w *watcher[T]) ResultChan() <-chan watch.Event { return w.result }

func (w *watcher[T]) Stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.stopFeed()
	})
}

// translate turns a change of the collection into what this watcher sees.
func (w *watcher[T]) translate(c Change[T]) (watch.Event, bool) {
	was, is := w.visible(c.Old), w.visible(c.Current)
	switch {
	case !was && is:
		return watch.Event{Type: watch.Added, Object: c.Current.DeepCopyObject()}, true
	case was && is:
		return watch.Event{Type: watch.Modified, Object: c.Current.DeepCopyObject()}, true
	case was && !is:
		return watch.Event{Type: watch.Deleted, Object: c.Last.DeepCopyObject()}, true
	}
	return watch.Event{}, false
}

// dispatch is called by the feed, with its lock held, for every change.
func (w *watcher[T]) dispatch(c Change[T]) {
	if w.overflowed || c.ResourceVersion <= w.floor {
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

// seen records that the feed has reached rv; lock held.
func (w *watcher[T]) seen(rv uint64) { w.lastSeen.Store(max(rv, w.floor)) }

func (w *watcher[T]) run(ctx context.Context, initial []watch.Event) {
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
			// The feed stores lastSeen after queueing the changes it covers,
			// so an empty queue after the load means they were all sent.
			rv := w.lastSeen.Load()
			if len(w.incoming) > 0 {
				continue
			}
			if !w.send(ctx, watch.Event{Type: watch.Bookmark, Object: w.bookmark(rv, false)}) {
				return
			}
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (w *watcher[T]) send(ctx context.Context, event watch.Event) bool {
	select {
	case w.result <- event:
		return true
	case <-w.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// bookmark is an empty object carrying rv, and the end-of-initial-events
// annotation when it closes them.
func (w *watcher[T]) bookmark(rv uint64, initialEventsEnd bool) runtime.Object {
	obj := w.newObject()
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return obj
	}
	accessor.SetResourceVersion(strconv.FormatUint(rv, 10))
	if initialEventsEnd {
		accessor.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	}
	return obj
}
