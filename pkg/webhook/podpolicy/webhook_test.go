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

package podpolicy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	resourcelisters "github.com/acp-archon/archon/pkg/generated/listers/resource/v1"
)

func indexer(objects ...any) cache.Indexer {
	i := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, obj := range objects {
		_ = i.Add(obj)
	}
	return i
}

// admit runs the webhook on a pod of namespace and returns it as admitted.
func admit(t *testing.T, w *Webhook, namespace string, pod *corev1.Pod) (*corev1.Pod, []string) {
	t.Helper()
	raw, _ := json.Marshal(pod)
	verdict, err := w.Review(context.Background(), &admissionv1.AdmissionRequest{Operation: admissionv1.Create, Namespace: namespace,
		Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Object: runtime.RawExtension{Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	if len(verdict.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(verdict.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = patch.Apply(raw); err != nil {
			t.Fatal(err)
		}
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out, verdict.Problems
}

func TestPodsOfIsolatedProjectsArePinnedToTheirNodes(t *testing.T) {
	namespaces := indexer(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a-dev", Labels: map[string]string{projectLabel: "a"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b-dev", Labels: map[string]string{projectLabel: "b"}}},
	)
	policies := indexer(&resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Spec: resourcev1.NodeGroupSpec{Projects: []string{"a"}, Nodes: []string{"n1"}}})
	w := New(resourcelisters.NewNamespaceResourceRatioLister(indexer()), corev1listers.NewLimitRangeLister(indexer()),
		corev1listers.NewNamespaceLister(namespaces), resourcelisters.NewNodeGroupLister(policies), ClusterRatios{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"y"}}}},
			}}}}}}
	admitted, _ := admit(t, w, "a-dev", pod)
	terms := admitted.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		last := term.MatchExpressions[len(term.MatchExpressions)-1]
		if len(term.MatchExpressions) != 2 || last.Key != "resource.alauda.io/node-group" || strings.Join(last.Values, ",") != "team-a" {
			t.Errorf("a term without the policy's nodes: %+v", term)
		}
	}
	if len(terms) != 2 || len(admitted.Spec.Tolerations) != 1 || admitted.Spec.Tolerations[0].Value != "team-a" {
		t.Errorf("terms %d, tolerations %+v", len(terms), admitted.Spec.Tolerations)
	}
	// Another project's pod is kept off the exclusive policy's nodes by
	// affinity, whatever it tolerates or names.
	other, _ := admit(t, w, "b-dev", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}},
		NodeName: "n1", Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}})
	terms = other.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchExpressions[0].Operator != corev1.NodeSelectorOpNotIn || terms[0].MatchExpressions[0].Values[0] != "team-a" ||
		len(other.Spec.Tolerations) != 1 {
		t.Errorf("another project's pod: %+v %+v", other.Spec.Affinity, other.Spec.Tolerations)
	}
}
