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

package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/acp-archon/archon/pkg/application"
)

func object(apiVersion, kind, name string, fields map[string]any) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "shop", "uid": "uid-" + name, "resourceVersion": "7"}}}
	for k, v := range fields {
		obj.Object[k] = v
	}
	return obj
}

func shop() *unstructured.Unstructured {
	return object("app.k8s.io/v1beta1", "Application", "shop", map[string]any{"spec": map[string]any{}})
}

func newRecorder() (*application.Recorder, *dynamicfake.FakeDynamicClient) {
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{application.HistoryResource: "ApplicationHistoryList"})
	return application.NewRecorder(client), client
}

func TestDiff(t *testing.T) {
	before := []*unstructured.Unstructured{
		shop(),
		object("v1", "ConfigMap", "settings", map[string]any{"data": map[string]any{"color": "blue"}}),
		object("v1", "Secret", "db", nil),
		object("v1", "Service", "web", nil),
	}
	after := []*unstructured.Unstructured{
		object("app.k8s.io/v1beta1", "Application", "shop", map[string]any{"spec": map[string]any{"changed": true}}),
		object("v1", "ConfigMap", "settings", map[string]any{"data": map[string]any{"color": "green"}}),
		object("v1", "Service", "web", nil),
		object("apps/v1", "Deployment", "web", nil),
		object("v1", "ConfigMap", "extra", nil),
	}
	d := application.Diff(before, after)
	got := fmt.Sprint(d.Create, d.Update, d.Delete)
	if want := "[{ConfigMap extra} {Deployment web}] [{ConfigMap settings}] [{Secret db}]"; got != want {
		t.Errorf("diff %s, want %s (the application itself left out, sorted)", got, want)
	}
}

func TestRecordNumbersDiffsAndKeepsTheNewestSix(t *testing.T) {
	recorder, client := newRecorder()
	ctx := context.Background()
	components := []*unstructured.Unstructured{
		object("v1", "ConfigMap", "settings", map[string]any{"data": map[string]any{"color": "blue"}}),
		object("v1", "Secret", "db", map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}}),
	}
	first, err := recorder.Record(ctx, application.Snapshot{Application: shop(), Components: components, User: "dana", ChangeCause: "first"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.Revision != 1 || first.History != "shop-1" || len(first.Diffs.Create) != 2 {
		t.Errorf("first revision %+v", first)
	}
	history, err := client.Resource(application.HistoryResource).Namespace("shop").Get(ctx, "shop-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stream, _, _ := unstructured.NestedString(history.Object, "spec", "yaml")
	if strings.Contains(stream, "aHVudGVyMg==") || strings.Contains(stream, "uid-") || strings.Contains(stream, "resourceVersion") {
		t.Errorf("the revision holds a Secret's value or what the cluster assigned:\n%s", stream)
	}
	if user, _, _ := unstructured.NestedString(history.Object, "spec", "user"); user != "dana" {
		t.Errorf("user %q", user)
	}

	dry, err := recorder.Record(ctx, application.Snapshot{Application: shop(), Components: components}, true)
	if err != nil || dry.Revision != 2 || len(dry.Diffs.Create)+len(dry.Diffs.Update)+len(dry.Diffs.Delete) != 0 {
		t.Errorf("dry run %+v, %v: want revision 2 with no changes", dry, err)
	}
	for i := 2; i <= 9; i++ {
		if _, err := recorder.Record(ctx, application.Snapshot{Application: shop(), Components: components}, false); err != nil {
			t.Fatal(err)
		}
	}
	list, err := client.Resource(application.HistoryResource).Namespace("shop").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var revisions []int64
	for i := range list.Items {
		revisions = append(revisions, application.RevisionOf(&list.Items[i]))
	}
	if fmt.Sprint(revisions) != "[4 5 6 7 8 9]" {
		t.Errorf("revisions kept %v, want the newest %d", revisions, application.KeptRevisions)
	}
}

// Two snapshots at once take the same number; the one that loses reads
// the other's and takes the next.
func TestRecordTakesTheNextNumberWhenOneIsTaken(t *testing.T) {
	recorder, client := newRecorder()
	raced := false
	client.PrependReactor("create", "applicationhistories", func(clienttesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		// Another snapshot wrote revision 1 between the read and the write.
		other := object("app.k8s.io/v1beta1", "ApplicationHistory", "shop-1", map[string]any{
			"spec": map[string]any{"applicationName": "shop", "revision": int64(1), "yaml": ""}})
		if err := client.Tracker().Add(other); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewAlreadyExists(application.HistoryResource.GroupResource(), "shop-1")
	})
	recorded, err := recorder.Record(context.Background(), application.Snapshot{Application: shop()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if recorded.Revision != 2 || recorded.History != "shop-2" {
		t.Errorf("recorded %+v, want revision 2 after the race", recorded)
	}
}

func TestRecordRefusesWhatARevisionCannotHold(t *testing.T) {
	recorder, _ := newRecorder()
	big := object("v1", "ConfigMap", "big", map[string]any{"data": map[string]any{"blob": strings.Repeat("x", application.MaxRevisionBytes)}})
	_, err := recorder.Record(context.Background(), application.Snapshot{Application: shop(), Components: []*unstructured.Unstructured{big}}, false)
	if !apierrors.IsRequestEntityTooLargeError(err) {
		t.Errorf("a revision over %d bytes: %v, want 413", application.MaxRevisionBytes, err)
	}
}
