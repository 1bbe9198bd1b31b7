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

package quota

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func sameList(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for key, amount := range a {
		other, ok := b[key]
		if !ok || amount.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lists []corev1.ResourceList
		want  corev1.ResourceList
	}{
		{name: "nothing", want: list()},
		{name: "one quota is itself", lists: []corev1.ResourceList{list("pods", "10")}, want: list("pods", "10")},
		{
			// The platform documentation's example: quotas a and b of one
			// namespace merge into default.
			name: "documented example",
			lists: []corev1.ResourceList{
				list("requests.cpu", "1", "requests.memory", "500Mi", "limits.cpu", "2"),
				list("requests.cpu", "2", "requests.memory", "300Mi", "limits.memory", "1Gi"),
			},
			want: list("requests.cpu", "1", "requests.memory", "300Mi", "limits.cpu", "2", "limits.memory", "1Gi"),
		},
		{name: "units compare by value", lists: []corev1.ResourceList{list("memory", "1Gi"), list("memory", "1000Mi")}, want: list("memory", "1000Mi")},
		{name: "zero wins", lists: []corev1.ResourceList{list("pods", "0"), list("pods", "5")}, want: list("pods", "0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Merge(tc.lists...); !sameList(got, tc.want) {
				t.Errorf("Merge = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzMerge checks the merge rules on arbitrary pairs of quotas: every key
// of either survives, with an amount no larger than either's, equal to one
// of them, and the merge does not depend on order.
func FuzzMerge(f *testing.F) {
	f.Add(int64(1), int64(2), int64(3), int64(0), true, false)
	f.Add(int64(1<<40), int64(7), int64(0), int64(5), false, true)
	f.Fuzz(func(t *testing.T, a1, a2, b1, b2 int64, aHasSecond, bHasFirst bool) {
		a := corev1.ResourceList{"requests.cpu": *resource.NewMilliQuantity(abs(a1), resource.DecimalSI)}
		if aHasSecond {
			a["pods"] = *resource.NewQuantity(abs(a2), resource.DecimalSI)
		}
		b := corev1.ResourceList{"limits.memory": *resource.NewQuantity(abs(b2), resource.BinarySI)}
		if bHasFirst {
			b["requests.cpu"] = *resource.NewMilliQuantity(abs(b1), resource.DecimalSI)
		}
		merged := Merge(a, b)
		if !sameList(merged, Merge(b, a)) {
			t.Fatalf("merge depends on order: %v vs %v", merged, Merge(b, a))
		}
		for _, source := range []corev1.ResourceList{a, b} {
			for key, amount := range source {
				got, ok := merged[key]
				if !ok {
					t.Fatalf("key %s lost", key)
				}
				if got.Cmp(amount) > 0 {
					t.Fatalf("%s merged to %s, more than %s", key, got.String(), amount.String())
				}
			}
		}
		for key, got := range merged {
			fromA, inA := a[key]
			fromB, inB := b[key]
			if !(inA && got.Cmp(fromA) == 0) && !(inB && got.Cmp(fromB) == 0) {
				t.Fatalf("%s merged to %s, which neither quota has", key, got.String())
			}
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		if n == -n { // the smallest int64 has no positive counterpart
			return 0
		}
		return -n
	}
	return n
}

func TestSumPrintsLikeWrittenAmounts(t *testing.T) {
	sum := Sum(list("requests.cpu", "500m"), list("requests.cpu", "1"), list("pods", "3"))
	if cpu := sum["requests.cpu"]; cpu.String() != "1500m" {
		t.Errorf("sum of 500m and 1 printed %s", cpu.String())
	}
	if pods := sum["pods"]; pods.String() != "3" {
		t.Errorf("pods %s", pods.String())
	}
}

func TestProblems(t *testing.T) {
	limit := list("requests.cpu", "4")
	for _, tc := range []struct {
		name          string
		used, request corev1.ResourceList
		want          string
	}{
		{name: "fits", used: list("requests.cpu", "1"), request: list("requests.cpu", "3")},
		{name: "unlimited key", used: list(), request: list("pods", "1000")},
		{name: "too much", used: list("requests.cpu", "3500m"), request: list("requests.cpu", "1"), want: "requests.cpu: requested 1 but project p has 500m left in cluster c (quota 4, used 3500m)"},
		{name: "none left", used: list("requests.cpu", "4"), request: list("requests.cpu", "0"), want: "requests.cpu: project p has none left in cluster c (quota 4, used 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := Problems("p", "c", limit, tc.used, tc.request)
			if got := strings.Join(problems, "; "); got != tc.want {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
		})
	}
}
