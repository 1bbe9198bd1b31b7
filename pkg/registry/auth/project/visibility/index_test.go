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
	"io"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/storage"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// fakeSource plays the project store: a fixed initial list, then whatever
// the test sends on its watch.
type fakeSource struct {
	initial []auth.Project
	listRV  string
	events  chan watch.Event
}

func (s *fakeSource) List(context.Context, *metainternalversion.ListOptions) (runtime.Object, error) {
	list := &auth.ProjectList{Items: s.initial}
	list.ResourceVersion = s.listRV
	return list, nil
}

func (s *fakeSource) Watch(context.Context, *metainternalversion.ListOptions) (watch.Interface, error) {
	return watch.NewProxyWatcher(s.events), nil
}

func project(name string, rv int, members ...auth.ProjectMember) *auth.Project {
	return &auth.Project{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: strconv.Itoa(rv), Labels: map[string]string{"tier": "gold"}},
		Spec:       auth.ProjectSpec{Members: members},
		Status:     auth.ProjectStatus{Phase: auth.ProjectActive},
	}
}

func userMember(name string) auth.ProjectMember {
	return auth.ProjectMember{Kind: auth.MemberKindUser, Name: name, Role: auth.ProjectRoleAdmin}
}

func groupMember(name string) auth.ProjectMember {
	return auth.ProjectMember{Kind: auth.MemberKindGroup, Name: name, Role: auth.ProjectRoleAuditor}
}

func serviceAccountMember(namespace, name string) auth.ProjectMember {
	return auth.ProjectMember{Kind: auth.MemberKindServiceAccount, Namespace: namespace, Name: name, Role: auth.ProjectRoleAdmin}
}

var everything = storage.SelectionPredicate{Label: labels.Everything(), Field: fields.Everything(),
	GetAttrs: func(obj runtime.Object) (labels.Set, fields.Set, error) {
		p := obj.(*auth.Project)
		return p.Labels, fields.Set{"metadata.name": p.Name}, nil
	}}

// startIndex runs an index over source and waits for its first sync.
func startIndex(t *testing.T, source *fakeSource) *Index {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ix := NewIndex()
	go ix.Run(ctx, source)
	if err := ix.waitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return ix
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMemberFilter(t *testing.T) {
	projects := []*auth.Project{
		project("p1", 5, userMember("alice")),
		project("p2", 6, groupMember("devs")),
		project("p3", 7, serviceAccountMember("ci", "deployer")),
		project("p4", 8, userMember("system:serviceaccount:ci:deployer")),
	}
	for _, tc := range []struct {
		name string
		user user.Info
		want []string
	}{
		{"direct member", &user.DefaultInfo{Name: "alice"}, []string{"p1"}},
		{"member through a group", &user.DefaultInfo{Name: "bob", Groups: []string{"devs", "system:authenticated"}}, []string{"p2"}},
		{"direct and group member", &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}, []string{"p1", "p2"}},
		{"ServiceAccount member", &user.DefaultInfo{Name: "system:serviceaccount:ci:deployer"}, []string{"p3", "p4"}},
		{"same name, other namespace", &user.DefaultInfo{Name: "system:serviceaccount:prod:deployer"}, nil},
		{"a user named like a group", &user.DefaultInfo{Name: "devs"}, nil},
		{"outsider", &user.DefaultInfo{Name: "mallory", Groups: []string{"system:authenticated"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isMember := MemberFilter(tc.user)
			var got []string
			for _, p := range projects {
				if isMember(p) {
					got = append(got, p.Name)
				}
			}
			if !equal(got, tc.want) {
				t.Errorf("member of %v, want %v", got, tc.want)
			}
		})
	}
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case event, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return event
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return watch.Event{}
}

func expectEvent(t *testing.T, w watch.Interface, eventType watch.EventType, name string) {
	t.Helper()
	event := nextEvent(t, w)
	got := event.Object.(*auth.Project)
	if event.Type != eventType || got.Name != name {
		t.Fatalf("got %s %s, want %s %s", event.Type, got.Name, eventType, name)
	}
}

func TestWatchFollowsMembership(t *testing.T) {
	source := &fakeSource{listRV: "10", events: make(chan watch.Event), initial: []auth.Project{
		*project("p1", 5, userMember("alice")),
	}}
	ix := startIndex(t, source)
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}
	w, err := ix.Watch(context.Background(), alice, everything, WatchOptions{ResourceVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	source.events <- watch.Event{Type: watch.Added, Object: cached(project("other", 11, userMember("bob")))}
	// The store's watch cache delivers wrapped objects.
	source.events <- watch.Event{Type: watch.Modified, Object: cached(project("other", 12, userMember("bob"), groupMember("devs")))}
	expectEvent(t, w, watch.Added, "other") // granted through the group
	source.events <- watch.Event{Type: watch.Modified, Object: project("p1", 13, userMember("alice"), userMember("carol"))}
	expectEvent(t, w, watch.Modified, "p1")
	source.events <- watch.Event{Type: watch.Modified, Object: project("other", 14, userMember("bob"))}
	expectEvent(t, w, watch.Deleted, "other") // revoked
	source.events <- watch.Event{Type: watch.Deleted, Object: project("p1", 15, userMember("alice"), userMember("carol"))}
	expectEvent(t, w, watch.Deleted, "p1")
}

func TestWatchStartingPoints(t *testing.T) {
	source := &fakeSource{listRV: "10", events: make(chan watch.Event), initial: []auth.Project{
		*project("a", 5, userMember("alice")),
		*project("b", 6, userMember("alice")),
		*project("c", 7, userMember("bob")),
	}}
	ix := startIndex(t, source)
	alice := &user.DefaultInfo{Name: "alice"}
	source.events <- watch.Event{Type: watch.Added, Object: project("d", 11, userMember("alice"))}
	source.events <- watch.Event{Type: watch.Bookmark, Object: project("", 12)}
	waitForResourceVersion(t, ix, 12)

	t.Run("initial events end with a bookmark", func(t *testing.T) {
		w, err := ix.Watch(context.Background(), alice, everything, WatchOptions{SendInitialEvents: true, Bookmarks: true})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		for _, name := range []string{"a", "b", "d"} {
			expectEvent(t, w, watch.Added, name)
		}
		event := nextEvent(t, w)
		end := event.Object.(*auth.Project)
		if event.Type != watch.Bookmark || end.Annotations[metav1.InitialEventsAnnotationKey] != "true" || end.ResourceVersion != "12" {
			t.Errorf("after the initial events got %s %+v, want the initial-events-end bookmark at 12", event.Type, end.ObjectMeta)
		}
	})
	t.Run("resourceVersion 0 starts with the current state", func(t *testing.T) {
		w, err := ix.Watch(context.Background(), alice, everything, WatchOptions{ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		for _, name := range []string{"a", "b", "d"} {
			expectEvent(t, w, watch.Added, name)
		}
	})
	t.Run("a resourceVersion replays what came after it", func(t *testing.T) {
		w, err := ix.Watch(context.Background(), alice, everything, WatchOptions{ResourceVersion: "10"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectEvent(t, w, watch.Added, "d")
	})
	t.Run("a resourceVersion older than the history is gone", func(t *testing.T) {
		_, err := ix.Watch(context.Background(), alice, everything, WatchOptions{ResourceVersion: "3"})
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Errorf("watch from 3: %v, want 410 Gone", err)
		}
	})
}

func TestWatchFromANewerListSkipsWhatItHolds(t *testing.T) {
	source := &fakeSource{listRV: "10", events: make(chan watch.Event)}
	ix := startIndex(t, source)
	alice := &user.DefaultInfo{Name: "alice"}
	// The client listed at 12 from the store before the index saw 11 and 12.
	w, err := ix.Watch(context.Background(), alice, everything, WatchOptions{ResourceVersion: "12"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	source.events <- watch.Event{Type: watch.Added, Object: project("listed", 11, userMember("alice"))}
	source.events <- watch.Event{Type: watch.Modified, Object: project("listed", 12, userMember("alice"), userMember("bob"))}
	source.events <- watch.Event{Type: watch.Added, Object: project("new", 13, userMember("alice"))}
	expectEvent(t, w, watch.Added, "new")
}

func TestSlowWatcherIsClosedNotBlocking(t *testing.T) {
	source := &fakeSource{listRV: "1", events: make(chan watch.Event)}
	ix := startIndex(t, source)
	w, err := ix.Watch(context.Background(), &user.DefaultInfo{Name: "alice"}, everything, WatchOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// Nobody reads the watch; the index must keep up regardless.
	for i := 0; i < changefeed.WatcherBuffer+10; i++ {
		source.events <- watch.Event{Type: watch.Added, Object: project("p"+strconv.Itoa(i), 2+i, userMember("alice"))}
	}
	waitForResourceVersion(t, ix, uint64(changefeed.WatcherBuffer+11))
	received := 0
	for range w.ResultChan() {
		received++
	}
	if received == 0 || received > changefeed.WatcherBuffer+1 {
		t.Errorf("slow watcher received %d events before closing", received)
	}
}

func waitForResourceVersion(t *testing.T, ix *Index, rv uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ix.mu.RLock()
		current := ix.feed.ResourceVersion()
		ix.mu.RUnlock()
		if current >= rv {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index at resourceVersion %d, want %d", current, rv)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cachedProject stands for the watch cache's wrapper around an object.
type cachedProject struct {
	runtime.Object
	project *auth.Project
}

func (c cachedProject) CacheEncode(runtime.Identifier, func(runtime.Object, io.Writer) error, io.Writer) error {
	return nil
}

func (c cachedProject) GetObject() runtime.Object { return c.project }

func cached(p *auth.Project) runtime.Object { return cachedProject{Object: p, project: p} }
