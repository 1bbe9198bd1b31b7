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

package namespaceimport

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
)

// newImporter returns an importer over a fake cluster holding project
// shop (8 CPUs) and namespace legacy with two quotas and a LimitRange.
func newImporter(t *testing.T) (*Importer, *kubefake.Clientset) {
	t.Helper()
	kube := kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy", ResourceVersion: "1"}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "a"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("2"), "pods": resource.MustParse("10")}}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "b"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("1")}}},
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "limits"}},
	)
	archon := archonfake.NewSimpleClientset(&authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec:       authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{{Name: "global", Quota: corev1.ResourceList{"requests.cpu": resource.MustParse("8")}}}},
	})
	quotas, err := quota.NewReader(kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewImporter("global", archon.AuthV1().Projects(), kube, quotas, protectednamespace.New()), kube
}

var spec = auth.NamespaceImportSpec{Project: "shop", Cluster: "global", Namespace: "legacy"}

func label(t *testing.T, kube *kubefake.Clientset) string {
	t.Helper()
	namespace, err := kube.CoreV1().Namespaces().Get(context.Background(), "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return namespace.Labels[authv1.NamespaceProjectLabel]
}

// The label, which grants the project's members their rights, is written
// last: an import interrupted before it has granted nothing, and resuming
// it finishes it.
func TestInterruptedImportsGrantNothingUntilResumed(t *testing.T) {
	im, kube := newImporter(t)
	down := errors.New("kube-apiserver went away")
	kube.PrependReactor("update", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, down })
	if _, err := im.Import(context.Background(), spec, false); !errors.Is(err, down) {
		t.Fatalf("an import whose label cannot be written: %v", err)
	}
	if got := label(t, kube); got != "" {
		t.Fatalf("the namespace joined %q though the import was interrupted", got)
	}
	merged, err := kube.CoreV1().ResourceQuotas("legacy").Get(context.Background(), mergedName, metav1.GetOptions{})
	if cpu, pods := merged.Spec.Hard["requests.cpu"], merged.Spec.Hard["pods"]; err != nil || cpu.String() != "1" || pods.String() != "10" {
		t.Fatalf("the merged quota, written before the label: %v %v", err, merged.Spec.Hard)
	}

	kube.ReactionChain = kube.ReactionChain[1:] // kube-apiserver is back
	status, err := im.Resume(context.Background(), spec)
	if err != nil || status.Phase != auth.NamespaceImportSucceeded {
		t.Fatalf("resuming: %v %+v", err, status)
	}
	if got := label(t, kube); got != "shop" {
		t.Errorf("after resuming the namespace is in %q", got)
	}
	// Resuming again finds the label and writes nothing.
	writes := len(kube.Actions())
	if status, err := im.Resume(context.Background(), spec); err != nil || status.Phase != auth.NamespaceImportSucceeded {
		t.Errorf("resuming a finished import: %v %+v", err, status)
	}
	for _, action := range kube.Actions()[writes:] {
		if action.GetVerb() != "get" {
			t.Errorf("resuming a finished import wrote: %v", action)
		}
	}
}

// A namespace protected by its label is refused after it is read, as a
// 403 rather than a record.
func TestImportRefusesLabelledProtectedNamespaces(t *testing.T) {
	im, kube := newImporter(t)
	namespace, _ := kube.CoreV1().Namespaces().Get(context.Background(), "legacy", metav1.GetOptions{})
	namespace.Labels = map[string]string{authv1.ProtectedNamespaceLabel: "true"}
	if _, err := kube.CoreV1().Namespaces().Update(context.Background(), namespace, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Import(context.Background(), spec, true); !apierrors.IsForbidden(err) {
		t.Errorf("importing a protected namespace: %v, want 403", err)
	}
}
