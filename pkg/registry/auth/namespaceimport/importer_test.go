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
	"slices"
	"strings"
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

// writes lists the writes the importer sent, in order, as verb resource.
func writes(kube *kubefake.Clientset) []string {
	var out []string
	for _, action := range kube.Actions() {
		if verb := action.GetVerb(); verb != "get" && verb != "list" && verb != "watch" {
			out = append(out, verb+" "+action.GetResource().Resource)
		}
	}
	return out
}

func condition(status auth.NamespaceImportStatus) (reason, message string) {
	for _, c := range status.Conditions {
		if c.Type == authv1.NamespaceImportConditionImported {
			return c.Reason, c.Message
		}
	}
	return "", ""
}

// An import merges the namespace's quotas into default (each key at its
// minimum), copies its LimitRange to default, and labels the namespace
// last; the status says what is safe to delete.
func TestImportMergesCopiesThenLabels(t *testing.T) {
	im, kube := newImporter(t)
	status, err := im.Import(context.Background(), spec, false)
	if err != nil || status.Phase != auth.NamespaceImportSucceeded {
		t.Fatalf("import: %v %+v", err, status)
	}
	if got, want := writes(kube), []string{"create resourcequotas", "create limitranges", "update namespaces"}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v: the label, which grants rights, last", got, want)
	}
	merged, err := kube.CoreV1().ResourceQuotas("legacy").Get(context.Background(), mergedName, metav1.GetOptions{})
	if cpu, pods := merged.Spec.Hard["requests.cpu"], merged.Spec.Hard["pods"]; err != nil || cpu.String() != "1" || pods.String() != "10" {
		t.Errorf("merged quota: %v %v", err, merged.Spec.Hard)
	}
	if _, err := kube.CoreV1().LimitRanges("legacy").Get(context.Background(), mergedName, metav1.GetOptions{}); err != nil {
		t.Errorf("the LimitRange copy: %v", err)
	}
	if got := label(t, kube); got != "shop" {
		t.Errorf("the namespace is in %q", got)
	}
	wantWarnings := []string{
		"LimitRange limits was copied to default and is safe to delete",
		"ResourceQuota a was merged into default and is safe to delete",
		"ResourceQuota b was merged into default and is safe to delete",
	}
	if !slices.Equal(status.Warnings, wantWarnings) || status.LimitRange != "limits" {
		t.Errorf("warnings %q, LimitRange %q", status.Warnings, status.LimitRange)
	}
}

// A dry run, and an import the rules refuse, write nothing.
func TestRefusedAndDryRunImportsWriteNothing(t *testing.T) {
	im, kube := newImporter(t)
	if status, err := im.Import(context.Background(), spec, true); err != nil || status.Phase != auth.NamespaceImportSucceeded {
		t.Errorf("dry run: %v %+v", err, status)
	}
	if got := writes(kube); len(got) != 0 {
		t.Errorf("a dry run wrote %v", got)
	}

	// Another namespace of the project already draws 7.5 of its 8 CPUs.
	for _, obj := range []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-prod", Labels: map[string]string{authv1.NamespaceProjectLabel: "shop"}}},
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-prod", Name: "default"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("7500m")}}},
	} {
		if err := kube.Tracker().Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	kube.ClearActions()
	status, err := im.Import(context.Background(), spec, false)
	if reason, message := condition(status); err != nil || status.Phase != auth.NamespaceImportFailed || reason != "QuotaExceeded" || !strings.Contains(message, "requests.cpu") {
		t.Errorf("an import over the project's quota: %v %s %s %s", err, status.Phase, reason, message)
	}
	if got := writes(kube); len(got) != 0 {
		t.Errorf("a refused import wrote %v", got)
	}
}

// A write kube-apiserver refuses stops the import before the label: the
// namespace stays out of the project and its members gain nothing. What
// was written before enforces nothing new (a quota equal to the minimum of
// the namespace's quotas), and importing again once the cause is fixed
// finishes the job.
func TestRefusedWritesStopBeforeTheLabel(t *testing.T) {
	for _, tc := range []struct {
		resource   string
		err        error
		wantWrites []string
		wantPhase  auth.NamespaceImportPhase
	}{
		{"resourcequotas", apierrors.NewForbidden(corev1.Resource("resourcequotas"), "default", errors.New("denied by policy")),
			[]string{"create resourcequotas"}, auth.NamespaceImportFailed},
		{"limitranges", apierrors.NewForbidden(corev1.Resource("limitranges"), "default", errors.New("denied by policy")),
			[]string{"create resourcequotas", "create limitranges"}, auth.NamespaceImportFailed},
		// An error that is not a refusal is returned: the record stays
		// Importing, and a replica finishes it later.
		{"limitranges", errors.New("connection reset"),
			[]string{"create resourcequotas", "create limitranges"}, ""},
	} {
		t.Run(tc.resource+" "+tc.err.Error(), func(t *testing.T) {
			im, kube := newImporter(t)
			kube.PrependReactor("create", tc.resource, func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			status, err := im.Import(context.Background(), spec, false)
			if tc.wantPhase == "" {
				if !errors.Is(err, tc.err) {
					t.Errorf("import: %v %+v, want the error", err, status)
				}
			} else if reason, _ := condition(status); err != nil || status.Phase != tc.wantPhase || reason != "Refused" {
				t.Errorf("import: %v %s %s", err, status.Phase, reason)
			}
			if got := writes(kube); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("writes %v, want %v", got, tc.wantWrites)
			}
			if got := label(t, kube); got != "" {
				t.Errorf("the namespace joined %q after a refused write", got)
			}
			for _, name := range []string{"a", "b"} {
				if _, err := kube.CoreV1().ResourceQuotas("legacy").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
					t.Errorf("the namespace's quota %s: %v", name, err)
				}
			}

			kube.ReactionChain = kube.ReactionChain[1:] // the cause is fixed
			if status, err := im.Import(context.Background(), spec, false); err != nil || status.Phase != auth.NamespaceImportSucceeded {
				t.Fatalf("importing again: %v %+v", err, status)
			}
			if got := label(t, kube); got != "shop" {
				t.Errorf("after importing again the namespace is in %q", got)
			}
		})
	}
}
