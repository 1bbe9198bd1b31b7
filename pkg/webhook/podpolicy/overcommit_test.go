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
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestRequestsAreLimitsOverTheRatio(t *testing.T) {
	list := func(cpu, memory string) corev1.ResourceList {
		out := corev1.ResourceList{}
		if cpu != "" {
			out[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if memory != "" {
			out[corev1.ResourceMemory] = resource.MustParse(memory)
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		limits, requests corev1.ResourceList
		defaults         corev1.ResourceList
		ratios           ClusterRatios
		wantCPU, wantMem string
		changed          bool
	}{
		{"both ratios", list("4", "1Gi"), nil, nil, ClusterRatios{CPU: 2, Memory: 4}, "2", "256Mi", true},
		{"rounded up, never zero", list("1m", "3"), nil, nil, ClusterRatios{CPU: 3, Memory: 2}, "1m", "2", true},
		{"requests given are replaced", list("1", ""), list("900m", ""), nil, ClusterRatios{CPU: 4}, "250m", "0", true},
		{"no ratio leaves them", list("1", "1Gi"), list("1", "1Gi"), nil, ClusterRatios{}, "1", "1Gi", false},
		{"a ratio of 1 is none", list("1", ""), list("1", ""), nil, ClusterRatios{CPU: 1}, "1", "0", false},
		{"no limit, the namespace's default", nil, nil, list("2", "512Mi"), ClusterRatios{CPU: 4, Memory: 2}, "500m", "256Mi", true},
		{"no limit and no default", nil, nil, nil, ClusterRatios{CPU: 4}, "0", "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := Overcommit(corev1.ResourceRequirements{Limits: tc.limits, Requests: tc.requests}, tc.defaults, tc.ratios)
			if changed != tc.changed || out.Requests.Cpu().String() != tc.wantCPU || out.Requests.Memory().String() != tc.wantMem {
				t.Errorf("requests %v (changed %v), want cpu %s memory %s (changed %v)", out.Requests, changed, tc.wantCPU, tc.wantMem, tc.changed)
			}
			for name, request := range out.Requests {
				if limit, ok := out.Limits[name]; ok && request.Cmp(limit) > 0 {
					t.Errorf("%s request %s over its limit %s", name, request.String(), limit.String())
				}
			}
		})
	}
}
