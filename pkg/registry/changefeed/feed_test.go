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

package changefeed_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// feedOf records changes 1..n of a collection of ConfigMaps into a feed
// keeping size changes, each creating the ConfigMap named after its number.
func feedOf(size, n int) (*changefeed.Feed[*corev1.ConfigMap], *sync.Mutex) {
	var mu sync.Mutex
	feed := changefeed.New(&mu, size, func() *corev1.ConfigMap { return &corev1.ConfigMap{} })
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= n; i++ {
		record(feed, i)
	}
	return feed, &mu
}

func record(feed *changefeed.Feed[*corev1.ConfigMap], i int) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: strconv.Itoa(i), ResourceVersion: strconv.Itoa(i)}}
	feed.Record(changefeed.Change[*corev1.ConfigMap]{ResourceVersion: uint64(i), Current: cm, Last: cm})
}

// sentinel is recorded once a watch started: the events before it are the
// replay.
const sentinel = 1000

// replay watches from rv and returns the names of the events replayed.
func replay(t *testing.T, feed *changefeed.Feed[*corev1.ConfigMap], mu *sync.Mutex, rv int) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := feed.Watch(ctx, changefeed.WatchOptions{ResourceVersion: strconv.Itoa(rv)},
		func(*corev1.ConfigMap) bool { return true }, func() []*corev1.ConfigMap { return nil })
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	mu.Lock()
	record(feed, sentinel)
	mu.Unlock()
	var names []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case event := <-w.ResultChan():
			if event.Type != watch.Added {
				t.Fatalf("unexpected event %v", event.Type)
			}
			name := event.Object.(*corev1.ConfigMap).Name
			if name == strconv.Itoa(sentinel) {
				return names, nil
			}
			names = append(names, name)
		case <-timeout:
			t.Fatalf("the change recorded after the watch started never came; got %v", names)
		}
	}
}

func TestHistoryKeepsTheLatestChangesInOrder(t *testing.T) {
	feed, mu := feedOf(4, 10) // keeps 7..10
	names, err := replay(t, feed, mu, 6)
	if err != nil {
		t.Fatalf("watch from 6, the last change dropped: %v", err)
	}
	if want := []string{"7", "8", "9", "10"}; !equal(names, want) {
		t.Fatalf("replayed %v, want %v", names, want)
	}
	feed, mu = feedOf(4, 10)
	names, err = replay(t, feed, mu, 8)
	if err != nil || !equal(names, []string{"9", "10"}) {
		t.Fatalf("replayed from 8: %v, %v; want [9 10]", names, err)
	}
	feed, mu = feedOf(4, 10)
	if _, err := replay(t, feed, mu, 5); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from 5, before the history: %v, want 410 Gone", err)
	}
}

func TestHistoryBeforeItFills(t *testing.T) {
	feed, mu := feedOf(4, 2)
	names, err := replay(t, feed, mu, 1)
	if err != nil || !equal(names, []string{"2"}) {
		t.Fatalf("replayed from 1: %v, %v; want [2]", names, err)
	}
}

func TestResetForgetsTheHistory(t *testing.T) {
	feed, mu := feedOf(4, 6)
	mu.Lock()
	feed.Reset(20)
	record(feed, 21)
	mu.Unlock()
	if _, err := replay(t, feed, mu, 19); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from before the reset: %v, want 410 Gone", err)
	}
	feed, mu = feedOf(4, 6)
	mu.Lock()
	feed.Reset(20)
	record(feed, 21)
	mu.Unlock()
	names, err := replay(t, feed, mu, 20)
	if err != nil || !equal(names, []string{"21"}) {
		t.Fatalf("replayed from 20: %v, %v; want [21]", names, err)
	}
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

// BenchmarkRecordWithFullHistory records into a full history: constant
// time per change whatever the history size.
func BenchmarkRecordWithFullHistory(b *testing.B) {
	for _, size := range []int{64, 4096} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			feed, mu := feedOf(size, size)
			mu.Lock()
			defer mu.Unlock()
			b.ResetTimer()
			for i := range b.N {
				record(feed, size+1+i)
			}
		})
	}
}
