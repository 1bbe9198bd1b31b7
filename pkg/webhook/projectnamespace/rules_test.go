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

package projectnamespace

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func testProject() *authv1.Project {
	return &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{
			{Name: "global", Quota: corev1.ResourceList{
				corev1.ResourceRequestsCPU:    resource.MustParse("4"),
				corev1.ResourceRequestsMemory: resource.MustParse("8Gi"),
			}},
			{Name: "edge"},
		}},
	}
}

func labeled(name, project string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{authv1.NamespaceProjectLabel: project}}}
}

func TestNamespaceRules(t *testing.T) {
	for _, tc := range []struct {
		name      string
		namespace *corev1.Namespace
		old       *corev1.Namespace
		project   *authv1.Project
		cluster   string
		want      []string // substrings, one per expected problem
	}{
		{name: "created with the prefix in a listed cluster", namespace: labeled("shop-dev", "shop"), project: testProject(), cluster: "global"},
		{name: "prefix alone is not enough", namespace: labeled("shop", "shop"), project: testProject(), cluster: "global", want: []string{"must be named shop-<name>"}},
		{name: "another project's prefix", namespace: labeled("shopping-dev", "shop"), project: testProject(), cluster: "global", want: []string{"must be named shop-<name>"}},
		{name: "cluster not in the project", namespace: labeled("shop-dev", "shop"), project: testProject(), cluster: "moon", want: []string{"does not include cluster moon (its clusters: global, edge)"}},
		{name: "both wrong", namespace: labeled("dev", "shop"), project: testProject(), cluster: "moon", want: []string{"must be named", "does not include cluster"}},
		{name: "missing project", namespace: labeled("ghost-dev", "ghost"), cluster: "global", want: []string{"cpaas.io/project=ghost names a project that does not exist"}},
		{name: "labeled later without the prefix (import)", namespace: labeled("legacy", "shop"), old: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}}, project: testProject(), cluster: "global"},
		{name: "moved in one step", namespace: labeled("shop-dev", "shop"), old: labeled("shop-dev", "other"), project: testProject(), cluster: "global", want: []string{"belongs to project other: release it first"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := namespaceRules(tc.namespace, tc.old, tc.project, tc.cluster)
			if len(problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d mentioning %q", problems, len(tc.want), tc.want)
			}
			for i, want := range tc.want {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %q does not mention %q", problems[i], want)
				}
			}
		})
	}
}

func hard(namespace, cpu string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(cpu)}},
	}
}

func TestQuotaRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		quota   *corev1.ResourceQuota
		others  []*corev1.ResourceQuota
		cluster string
		want    string
	}{
		{name: "fits", quota: hard("shop-a", "1"), others: []*corev1.ResourceQuota{hard("shop-b", "2")}, cluster: "global"},
		{name: "takes exactly what is left", quota: hard("shop-a", "1500m"), others: []*corev1.ResourceQuota{hard("shop-b", "2500m")}, cluster: "global"},
		{name: "more than is left", quota: hard("shop-a", "2"), others: []*corev1.ResourceQuota{hard("shop-b", "3")}, cluster: "global",
			want: "requests.cpu: requested 2 but project shop has 1 left in cluster global (quota 4, used 3)"},
		{name: "nothing left", quota: hard("shop-a", "0"), others: []*corev1.ResourceQuota{hard("shop-b", "1"), hard("shop-c", "3")}, cluster: "global",
			want: "requests.cpu: project shop has none left in cluster global (quota 4, used 4)"},
		{name: "a namespace draws the minimum of its quotas", quota: hard("shop-a", "3"), others: []*corev1.ResourceQuota{hard("shop-a", "1"), hard("shop-b", "2"), hard("shop-b", "3")}, cluster: "global"},
		{name: "a second quota in a namespace replaces none of the first", quota: hard("shop-a", "2"), others: []*corev1.ResourceQuota{hard("shop-b", "3")}, cluster: "global",
			want: "requests.cpu: requested 2 but project shop has 1 left in cluster global (quota 4, used 3)"},
		{name: "keys the project does not limit", quota: &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1000")}}}, cluster: "global"},
		{name: "cluster without quota limits nothing", quota: hard("shop-a", "100"), cluster: "edge"},
		{name: "cluster not in the project", quota: hard("shop-a", "1"), cluster: "moon", want: "project shop does not include cluster moon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byNamespace := map[string][]*corev1.ResourceQuota{}
			for _, q := range tc.others {
				byNamespace[q.Namespace] = append(byNamespace[q.Namespace], q)
			}
			problems := quotaRules(tc.quota, testProject(), tc.cluster, byNamespace)
			switch {
			case tc.want == "" && len(problems) > 0:
				t.Errorf("refused: %q", problems)
			case tc.want != "" && (len(problems) != 1 || problems[0] != tc.want):
				t.Errorf("problems %q, want exactly %q", problems, tc.want)
			}
		})
	}
}
