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

package quota_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/quota"
)

// listedAt is what a fake kube-apiserver answers lists of quotas at.
const listedAt = "4242"

// quotaLists records the options of every list of ResourceQuotas and
// answers each at listedAt.
func quotaLists(kube *kubefake.Clientset) func() []metav1.ListOptions {
	var (
		mu   sync.Mutex
		seen []metav1.ListOptions
	)
	kube.PrependReactor("list", "resourcequotas", func(action clienttesting.Action) (bool, runtime.Object, error) {
		list := action.(clienttesting.ListActionImpl)
		mu.Lock()
		seen = append(seen, list.ListOptions)
		mu.Unlock()
		answer := &corev1.ResourceQuotaList{ListMeta: metav1.ListMeta{ResourceVersion: listedAt}}
		answer.Items = []corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: list.Namespace}}}
		return true, answer, nil
	})
	return func() []metav1.ListOptions {
		mu.Lock()
		defer mu.Unlock()
		return append([]metav1.ListOptions(nil), seen...)
	}
}

func projectNamespaces(project string, n int) []runtime.Object {
	var objects []runtime.Object
	for i := 0; i < n; i++ {
		objects = append(objects, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%d", project, i), Labels: map[string]string{authv1.NamespaceProjectLabel: project},
		}})
	}
	return objects
}

// TestProjectQuotasWaitsForOneConsistentListOnly: a consistent list waits
// for kube-apiserver's watch cache to catch up with etcd; the reader pays
// that once and reads the other namespaces at the version the first was
// served at, so that they are as fresh as it.
func TestProjectQuotasWaitsForOneConsistentListOnly(t *testing.T) {
	kube := kubefake.NewClientset(projectNamespaces("a", 5)...)
	lists := quotaLists(kube)
	reader, err := quota.NewReader(kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	byNamespace, readAt, err := reader.ProjectQuotas(context.Background(), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(byNamespace) != 5 || readAt != listedAt {
		t.Fatalf("read %d namespaces at %q, want 5 at %q", len(byNamespace), readAt, listedAt)
	}
	consistent := 0
	for _, options := range lists() {
		switch {
		case options.ResourceVersion == "":
			consistent++
		case options.ResourceVersion != listedAt || options.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan:
			t.Errorf("a list asked for resourceVersion %q (%s), want %q not older than", options.ResourceVersion, options.ResourceVersionMatch, listedAt)
		}
	}
	if consistent != 1 {
		t.Errorf("%d consistent lists, want 1", consistent)
	}
}

// TestProjectQuotasNotOlderThan: given the version of an earlier read, no
// list waits for a consistent read.
func TestProjectQuotasNotOlderThan(t *testing.T) {
	kube := kubefake.NewClientset(projectNamespaces("a", 3)...)
	lists := quotaLists(kube)
	reader, err := quota.NewReader(kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reader.ProjectQuotas(context.Background(), "a", "17"); err != nil {
		t.Fatal(err)
	}
	seen := lists()
	if len(seen) != 3 {
		t.Fatalf("%d lists, want 3", len(seen))
	}
	for _, options := range seen {
		if options.ResourceVersion != "17" || options.ResourceVersionMatch != metav1.ResourceVersionMatchNotOlderThan {
			t.Errorf("a list asked for resourceVersion %q (%s), want 17 not older than", options.ResourceVersion, options.ResourceVersionMatch)
		}
	}
}
