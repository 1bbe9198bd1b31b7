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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Overcommit returns a container's resources with the requests the
// ratios give: each request is the limit (the container's, else the
// namespace's default) divided by the ratio, rounded up (at least 1m of
// CPU, 1 byte of memory), so it never exceeds the limit. A ratio of 0
// or 1, or no limit, leaves the request as it is. changed says whether
// anything changed.
func Overcommit(resources corev1.ResourceRequirements, defaults corev1.ResourceList, ratios ClusterRatios) (corev1.ResourceRequirements, bool) {
	out := *resources.DeepCopy()
	changed := false
	for _, r := range []struct {
		name  corev1.ResourceName
		ratio int64
	}{{corev1.ResourceCPU, ratios.CPU}, {corev1.ResourceMemory, ratios.Memory}} {
		if r.ratio <= 1 {
			continue
		}
		limit, ok := out.Limits[r.name]
		if !ok {
			if limit, ok = defaults[r.name]; !ok {
				continue
			}
			if out.Limits == nil {
				out.Limits = corev1.ResourceList{}
			}
			out.Limits[r.name] = limit
		}
		var request resource.Quantity
		if r.name == corev1.ResourceCPU {
			request = *resource.NewMilliQuantity(ceilDiv(limit.MilliValue(), r.ratio), resource.DecimalSI)
		} else {
			request = *resource.NewQuantity(ceilDiv(limit.Value(), r.ratio), limit.Format)
		}
		if current, ok := out.Requests[r.name]; ok && current.Cmp(request) == 0 {
			continue
		}
		if out.Requests == nil {
			out.Requests = corev1.ResourceList{}
		}
		out.Requests[r.name] = request
		changed = true
	}
	return out, changed
}

// ceilDiv is a / b rounded up, at least 1.
func ceilDiv(a, b int64) int64 {
	return max((a+b-1)/b, 1)
}
