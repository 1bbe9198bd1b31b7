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

// Package quota holds the platform's quota arithmetic. Kubernetes enforces
// every ResourceQuota of a namespace, so a namespace's effective quota is
// the per-key minimum of its quotas; that is also how an imported
// namespace's quotas merge into one, and what a namespace draws from its
// project's quota.
package quota

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Merge returns the per-key minimum of lists; a key present in only some of
// them keeps the smallest amount among those.
func Merge(lists ...corev1.ResourceList) corev1.ResourceList {
	merged := corev1.ResourceList{}
	for _, list := range lists {
		for key, amount := range list {
			if current, ok := merged[key]; !ok || amount.Cmp(current) < 0 {
				merged[key] = amount.DeepCopy()
			}
		}
	}
	return merged
}

// Effective is the quota a namespace's ResourceQuotas enforce together.
func Effective(quotas []*corev1.ResourceQuota) corev1.ResourceList {
	lists := make([]corev1.ResourceList, 0, len(quotas))
	for _, q := range quotas {
		lists = append(lists, q.Spec.Hard)
	}
	return Merge(lists...)
}

// Sum adds lists key by key.
func Sum(lists ...corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, list := range lists {
		for key, amount := range list {
			total := sum[key]
			total.Add(amount)
			sum[key] = total
		}
	}
	for key, amount := range sum {
		// Re-parse so that sums print like written amounts (1500m).
		sum[key] = resource.MustParse(amount.String())
	}
	return sum
}

// Problems checks that a namespace asking for request fits a project whose
// quota in the cluster is limit, when its other namespaces hold used. Only
// keys the project limits are checked; a key with nothing left refuses
// even a zero request. Messages name the key, the request and what is left.
func Problems(project, cluster string, limit, used, request corev1.ResourceList) []string {
	var problems []string
	for _, key := range sortedKeys(request) {
		hard, limited := limit[key]
		if !limited {
			continue
		}
		consumed := used[key]
		left := hard.DeepCopy()
		left.Sub(consumed)
		requested := request[key]
		switch {
		case left.Sign() <= 0:
			problems = append(problems, fmt.Sprintf("%s: project %s has none left in cluster %s (quota %s, used %s)",
				key, project, cluster, hard.String(), consumed.String()))
		case requested.Cmp(left) > 0:
			problems = append(problems, fmt.Sprintf("%s: requested %s but project %s has %s left in cluster %s (quota %s, used %s)",
				key, requested.String(), project, left.String(), cluster, hard.String(), consumed.String()))
		}
	}
	return problems
}

func sortedKeys(list corev1.ResourceList) []corev1.ResourceName {
	keys := make([]corev1.ResourceName, 0, len(list))
	for key := range list {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
