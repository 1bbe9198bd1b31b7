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

package uidrange

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestFreeIsTheLowestBlockNoRangeOverlaps(t *testing.T) {
	if got, _ := Free(nil); got != Block(0) || got.String() != "1000000000-1000009999" {
		t.Errorf("first block %s", got)
	}
	taken := []Range{Block(0), Block(2), {First: Block(3).First + 5, Last: Block(3).First + 7}}
	if got, _ := Free(taken); got != Block(1) {
		t.Errorf("with 0, 2 and part of 3 taken: %s, want block 1", got)
	}
	taken = append(taken, Block(1))
	if got, _ := Free(taken); got != Block(4) {
		t.Errorf("with 0-3 taken (3 in part): %s, want block 4", got)
	}
	// 5,000 namespaces: every block distinct.
	var all []Range
	seen := map[Range]bool{}
	for range 5000 {
		r, ok := Free(append([]Range(nil), all...))
		if !ok || seen[r] {
			t.Fatalf("block %s handed out twice (or none left)", r)
		}
		seen[r] = true
		all = append(all, r)
	}
}

func TestParse(t *testing.T) {
	if r, err := Parse("1000002000-1000011999"); err != nil || r.First != 1000002000 || r.Last != 1000011999 {
		t.Errorf("the documented example: %v %v", r, err)
	}
	for _, bad := range []string{"", "5", "a-b", "10-5", "-1-5", "0-4294967296", "0-999999999", "1000-1000000000"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPodsRunWithTheRangesIDs(t *testing.T) {
	r := Block(0)
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b",
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To(r.First + 5)}}}}}
	if !Default(pod, r) {
		t.Fatal("a pod without IDs not defaulted")
	}
	if *pod.Spec.SecurityContext.RunAsUser != r.First || *pod.Spec.SecurityContext.FSGroup != r.First ||
		*pod.Spec.Containers[0].SecurityContext.RunAsUser != r.First || *pod.Spec.Containers[1].SecurityContext.RunAsUser != r.First+5 {
		t.Errorf("defaulted: %+v %+v", pod.Spec.SecurityContext, pod.Spec.Containers)
	}
	if errs := Check(pod, r); len(errs) > 0 {
		t.Errorf("a defaulted pod: %v", errs)
	}
	bad := &corev1.Pod{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000000), SupplementalGroups: []int64{r.First, 7}},
		Containers: []corev1.Container{{Name: "a", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](2000000),
			RunAsGroup: ptr.To[int64](0)}}}}}
	// A pod naming its fsGroup still runs as the range's user and group,
	// not its image's.
	Default(bad, r)
	if sc := bad.Spec.SecurityContext; *sc.RunAsUser != r.First || *sc.RunAsGroup != r.First || *sc.FSGroup != 2000000 {
		t.Errorf("a pod naming its fsGroup: %+v", sc)
	}
	errs := Check(bad, r)
	var fields []string
	for _, err := range errs {
		fields = append(fields, err.Field)
	}
	want := "spec.securityContext.fsGroup spec.securityContext.supplementalGroups[1] spec.containers[0].securityContext.runAsUser spec.containers[0].securityContext.runAsGroup"
	if strings.Join(fields, " ") != want || !strings.Contains(errs[0].Error(), r.String()) {
		t.Errorf("refused fields %v, want %s: %v", fields, want, errs)
	}
}
