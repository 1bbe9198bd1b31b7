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

package keyqueue

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// synced collects the keys a queue syncs.
type synced chan string

func (s synced) sync(_ context.Context, key string) error {
	s <- key
	return nil
}

func (s synced) expect(t *testing.T, keys ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, key := range keys {
		want[key] = true
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case key := <-s:
			delete(want, key)
		case <-deadline:
			t.Fatalf("keys %v were never synced", want)
		}
	}
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
}

// A controller whose replica lost the lease and won it back works again:
// the second run has a queue of its own, starts from every object the
// informer holds (those changed while stopped included) and follows new
// events.
func TestQueueRunsAgainAfterStopping(t *testing.T) {
	kube := kubefake.NewClientset(configMap("before"))
	factory := kubeinformers.NewSharedInformerFactory(kube, 0)
	informer := factory.Core().V1().ConfigMaps().Informer()
	keys := make(synced, 100)
	queue := New("test", keys.sync)
	if err := queue.Watch(informer, func(obj any) []string {
		key, _ := cache.MetaNamespaceKeyFunc(obj)
		return []string{key}
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)

	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan struct{})
	go func() { queue.Run(first, 2); close(firstDone) }()
	keys.expect(t, "ns/before")
	cancelFirst()
	<-firstDone

	ctx := context.Background()
	if _, err := kube.CoreV1().ConfigMaps("ns").Create(ctx, configMap("while-stopped"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	queue.Add("dropped-while-stopped")

	second, cancelSecond := context.WithCancel(context.Background())
	defer cancelSecond()
	go queue.Run(second, 2)
	keys.expect(t, "ns/before", "ns/while-stopped")
	if _, err := kube.CoreV1().ConfigMaps("ns").Create(ctx, configMap("after"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keys.expect(t, "ns/after")
	queue.Add("added")
	keys.expect(t, "added")
}

func TestKeyFunctions(t *testing.T) {
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"cpaas.io/project": "alpha"}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "team-a"}}
	project := LabelKey("cpaas.io/project")
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"NameKey of a namespace", NameKey(namespace), []string{"team-a"}},
		{"NameKey of a non-object", NameKey("team-a"), nil},
		{"NamespaceKey of a namespace is its name", NamespaceKey(namespace), []string{"team-a"}},
		{"NamespaceKey of a namespaced object", NamespaceKey(secret), []string{"team-a"}},
		{"LabelKey of a labeled object", project(namespace), []string{"alpha"}},
		{"LabelKey of an unlabeled object", project(secret), nil},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
