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

package projectstatus

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func TestStatusSumsTheProjectsQuotasInThisCluster(t *testing.T) {
	project := &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{
			{Name: "global", Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")}},
		}},
		Status: authv1.ProjectStatus{Clusters: []authv1.ProjectClusterStatus{
			{Name: "edge", Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
		}},
	}
	namespaces := []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "shop-prod"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "shop-dev"}},
	}
	quota := func(namespace, cpu string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "q"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(cpu)}},
		}
	}
	// shop-prod's two quotas enforce their minimum, 1.
	quotas := []*corev1.ResourceQuota{quota("shop-dev", "500m"), quota("shop-prod", "1"), quota("shop-prod", "3"), quota("elsewhere", "100")}

	status := desiredStatus(project, "global", namespaces, quotas)
	if status.Phase != authv1.ProjectActive {
		t.Errorf("phase %q", status.Phase)
	}
	if len(status.Namespaces) != 2 || status.Namespaces[0] != "shop-dev" || status.Namespaces[1] != "shop-prod" {
		t.Errorf("namespaces %v, want sorted [shop-dev shop-prod]", status.Namespaces)
	}
	if len(status.Clusters) != 2 || status.Clusters[0].Name != "edge" || status.Clusters[1].Name != "global" {
		t.Fatalf("clusters %+v, want edge kept and global added", status.Clusters)
	}
	global := status.Clusters[1]
	if used := global.Used[corev1.ResourceRequestsCPU]; used.String() != "1500m" {
		t.Errorf("used requests.cpu %s, want 1500m", used.String())
	}
	if hard := global.Hard[corev1.ResourceRequestsCPU]; hard.String() != "4" {
		t.Errorf("hard requests.cpu %s, want 4", hard.String())
	}
	if pods := status.Clusters[0].Used[corev1.ResourcePods]; pods.String() != "3" {
		t.Errorf("edge's status changed: %+v", status.Clusters[0])
	}

	now := metav1.Now()
	project.DeletionTimestamp = &now
	if phase := desiredStatus(project, "global", nil, nil).Phase; phase != authv1.ProjectTerminating {
		t.Errorf("phase while deleting %q", phase)
	}
}
