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

package templaterequester_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/templateapp"
	"github.com/acp-archon/archon/pkg/webhook/admission"
	"github.com/acp-archon/archon/pkg/webhook/templaterequester"
)

var signer = templateapp.NewSignerWithKey([]byte("0123456789abcdef0123456789abcdef"))

func application(name string, annotations map[string]string) []byte {
	data, _ := json.Marshal(map[string]any{"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "shop", "annotations": annotations}})
	return data
}

// review runs the webhook and returns the application as admitted.
func review(t *testing.T, operation admissionv1.Operation, user string, object, old []byte) (*metav1.PartialObjectMetadata, []string) {
	t.Helper()
	request := &admissionv1.AdmissionRequest{Operation: operation, Namespace: "shop", UserInfo: authenticationv1.UserInfo{Username: user, Groups: []string{"devs"}},
		Object: runtime.RawExtension{Raw: object}}
	if old != nil {
		request.OldObject = runtime.RawExtension{Raw: old}
	}
	verdict, err := templaterequester.New(signer).Review(context.Background(), request)
	if err != nil {
		t.Fatal(err)
	}
	admitted := object
	if len(verdict.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(verdict.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if admitted, err = patch.Apply(object); err != nil {
			t.Fatal(err)
		}
	}
	var out metav1.PartialObjectMetadata
	if err := json.Unmarshal(admitted, &out); err != nil {
		t.Fatal(err)
	}
	return &out, verdict.Problems
}

func requester(t *testing.T, obj *metav1.PartialObjectMetadata) string {
	t.Helper()
	r, err := signer.Verify(context.Background(), obj)
	if err != nil {
		t.Fatalf("requester of the admitted application: %v", err)
	}
	return r.Username
}

func TestTheRequesterIsWhoLastChangedTheChart(t *testing.T) {
	chart := map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0"}
	created, _ := review(t, admissionv1.Create, "alice", application("web", withForged(chart)), nil)
	if got := requester(t, created); got != "alice" {
		t.Fatalf("on create: %s", got)
	}
	annotations := created.Annotations
	current := application("web", annotations)

	// A label, a rewritten requester: alice stays, the rewrite is undone.
	forged := copyOf(annotations)
	forged[templateapp.RequesterAnnotation] = `{"username":"system:admin","groups":["system:masters"],"signature":"x"}`
	kept, _ := review(t, admissionv1.Update, "bob", application("web", forged), current)
	if kept.Annotations[templateapp.RequesterAnnotation] != annotations[templateapp.RequesterAnnotation] {
		t.Errorf("a rewrite of the requester stayed: %s", kept.Annotations[templateapp.RequesterAnnotation])
	}
	if verdict := verdictOf(t, admissionv1.Update, "bob", application("web", forged), current); len(verdict.Warnings) != 1 {
		t.Errorf("an undone rewrite warns nobody: %+v", verdict)
	}
	// A change of values makes bob the requester.
	upgraded := copyOf(annotations)
	upgraded[templateapp.ValuesAnnotation] = `{"a":1}`
	if got := requester(t, first(review(t, admissionv1.Update, "bob", application("web", upgraded), current))); got != "bob" {
		t.Errorf("after bob's upgrade: %s", got)
	}
	// Taking the requester off takes over.
	taken := copyOf(annotations)
	delete(taken, templateapp.RequesterAnnotation)
	if got := requester(t, first(review(t, admissionv1.Update, "carol", application("web", taken), current))); got != "carol" {
		t.Errorf("after carol's take-over: %s", got)
	}
	// Detaching (the chart annotations off) is a change too.
	detached := map[string]string{templateapp.RequesterAnnotation: annotations[templateapp.RequesterAnnotation]}
	if got := requester(t, first(review(t, admissionv1.Update, "dave", application("web", detached), current))); got != "dave" {
		t.Errorf("after dave's detach: %s", got)
	}
	// A requester signed for another application is not copied over.
	other, _ := review(t, admissionv1.Create, "mallory", application("db", withForged(chart)), nil)
	copied := copyOf(chart)
	copied[templateapp.RequesterAnnotation] = annotations[templateapp.RequesterAnnotation]
	if got := requester(t, first(review(t, admissionv1.Create, "mallory", application("db", copied), nil))); got != "mallory" || other == nil {
		t.Errorf("a copied requester: %s", got)
	}
}

// TestNoOtherWriterBecomesTheRequester: an application written before
// the webhook (no requester) gets none from a write that leaves its chart
// alone — archon's finalizer, the garbage collector — and archon itself
// never becomes one.
func TestNoOtherWriterBecomesTheRequester(t *testing.T) {
	chart := map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0"}
	old := application("web", chart)
	touched, _ := review(t, admissionv1.Update, "system:serviceaccount:kube-system:generic-garbage-collector", application("web", chart), old)
	if _, ok := touched.Annotations[templateapp.RequesterAnnotation]; ok {
		t.Errorf("a write leaving the chart alone recorded a requester: %v", touched.Annotations)
	}
	withForged, _ := review(t, admissionv1.Update, "mallory", application("web", withForged(chart)), old)
	if _, ok := withForged.Annotations[templateapp.RequesterAnnotation]; ok {
		t.Errorf("a forged requester added to an application without one stayed: %v", withForged.Annotations)
	}
	changed := copyOf(chart)
	changed[templateapp.VersionAnnotation] = "1.1.0"
	if _, problems := review(t, admissionv1.Update, "system:serviceaccount:archon-system:archon-apiserver", application("web", changed), old); len(problems) == 0 {
		t.Error("archon's own identity became a requester")
	}
}

func TestNativeApplicationsAndGeneratedNames(t *testing.T) {
	native, _ := review(t, admissionv1.Create, "alice", application("shop", map[string]string{"a": "b"}), nil)
	if _, ok := native.Annotations[templateapp.RequesterAnnotation]; ok {
		t.Error("a native application got a requester")
	}
	_, problems := review(t, admissionv1.Create, "alice", application("", map[string]string{templateapp.SourceAnnotation: "team/web"}), nil)
	if len(problems) == 0 || !strings.Contains(problems[0], "generateName") {
		t.Errorf("a generated name: %v", problems)
	}
}

func withForged(annotations map[string]string) map[string]string {
	out := copyOf(annotations)
	out[templateapp.RequesterAnnotation] = `{"username":"system:admin"}`
	return out
}

func copyOf(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func verdictOf(t *testing.T, operation admissionv1.Operation, user string, object, old []byte) admission.Verdict {
	t.Helper()
	request := &admissionv1.AdmissionRequest{Operation: operation, Namespace: "shop", UserInfo: authenticationv1.UserInfo{Username: user},
		Object: runtime.RawExtension{Raw: object}, OldObject: runtime.RawExtension{Raw: old}}
	verdict, err := templaterequester.New(signer).Review(context.Background(), request)
	if err != nil {
		t.Fatal(err)
	}
	return verdict
}

func first(obj *metav1.PartialObjectMetadata, _ []string) *metav1.PartialObjectMetadata { return obj }
