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

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func namespaceImport(name, project, namespace string) *authv1.NamespaceImport {
	return &authv1.NamespaceImport{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       authv1.NamespaceImportSpec{Project: project, Cluster: "global", Namespace: namespace},
	}
}

func resources(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func sameResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for key, amount := range a {
		if other, ok := b[key]; !ok || other.Cmp(amount) != 0 {
			return false
		}
	}
	return true
}

// legacyNamespace makes an unlabeled namespace with quotas and limit ranges.
func legacyNamespace(ctx context.Context, t *testing.T, name string, quotas map[string]corev1.ResourceList, limitRanges ...string) {
	t.Helper()
	kube := kubeClient(t)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	for quotaName, hard := range quotas {
		if _, err := kube.CoreV1().ResourceQuotas(name).Create(ctx, quota(quotaName, hard), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, lr := range limitRanges {
		limitRange := &corev1.LimitRange{
			ObjectMeta: metav1.ObjectMeta{Name: lr},
			Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type: corev1.LimitTypeContainer, Default: resources("cpu", "500m"),
			}}},
		}
		if _, err := kube.CoreV1().LimitRanges(name).Create(ctx, limitRange, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func importCondition(imp *authv1.NamespaceImport) (reason, message string) {
	if c := meta.FindStatusCondition(imp.Status.Conditions, authv1.NamespaceImportConditionImported); c != nil {
		return c.Reason, c.Message
	}
	return "", ""
}

func TestNamespaceImport(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	admin := archonClient(t, adminConfig(t)).AuthV1()
	project := projectWithQuota("imp", authv1.ProjectCluster{Name: "global", Quota: resources(
		"requests.cpu", "4", "requests.memory", "1Gi", "limits.cpu", "4", "limits.memory", "2Gi")})
	project.Spec.Members = []authv1.ProjectMember{{Kind: authv1.MemberKindUser, Name: "ingrid", Role: authv1.ProjectRoleAdmin}}
	if _, err := admin.Projects().Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The platform documentation's example: quotas a and b merge into default.
	legacyNamespace(ctx, t, "legacy", map[string]corev1.ResourceList{
		"a": resources("requests.cpu", "1", "requests.memory", "500Mi", "limits.cpu", "2"),
		"b": resources("requests.cpu", "2", "requests.memory", "300Mi", "limits.memory", "1Gi"),
	}, "limits")
	// Importing takes the right to update the namespace itself too.
	allowNamespaceUpdates(ctx, t, "ingrid", "legacy")

	ingrid := clientAs(t, "ingrid").AuthV1().NamespaceImports()
	var imp *authv1.NamespaceImport
	eventually(t, "ingrid, project-admin of imp, imports legacy", func() error {
		var err error
		imp, err = ingrid.Create(ctx, namespaceImport("import-legacy", "imp", "legacy"), metav1.CreateOptions{})
		return err
	})
	t.Cleanup(func() {
		_ = admin.NamespaceImports().Delete(context.Background(), "import-legacy", metav1.DeleteOptions{})
	})
	if imp.Status.Phase != authv1.NamespaceImportSucceeded {
		reason, message := importCondition(imp)
		t.Fatalf("import %s: %s: %s", imp.Status.Phase, reason, message)
	}
	want := resources("requests.cpu", "1", "requests.memory", "300Mi", "limits.cpu", "2", "limits.memory", "1Gi")
	if !sameResources(imp.Status.Quota, want) {
		t.Errorf("status.quota %v, want %v", imp.Status.Quota, want)
	}
	if imp.Status.LimitRange != "limits" || len(imp.Status.Warnings) != 3 {
		t.Errorf("limitRange %q, warnings %q", imp.Status.LimitRange, imp.Status.Warnings)
	}
	merged, err := kube.CoreV1().ResourceQuotas("legacy").Get(ctx, "default", metav1.GetOptions{})
	if err != nil || !sameResources(merged.Spec.Hard, want) {
		t.Errorf("quota default: %v %v", err, merged)
	}
	if _, err := kube.CoreV1().LimitRanges("legacy").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("LimitRange default: %v", err)
	}
	if ns, err := kube.CoreV1().Namespaces().Get(ctx, "legacy", metav1.GetOptions{}); err != nil || ns.Labels[authv1.NamespaceProjectLabel] != "imp" {
		t.Errorf("namespace legacy after import: %v %v", err, ns.Labels)
	}
	out := adminKubectl(t, "", "get", "namespaceimports", "import-legacy")
	if !strings.Contains(out, "PROJECT") || !strings.Contains(out, "Succeeded") {
		t.Errorf("kubectl get namespaceimports:\n%s", out)
	}
}

func TestFailedImportsChangeNothing(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	admin := archonClient(t, adminConfig(t)).AuthV1()
	if _, err := admin.Projects().Create(ctx, projectWithQuota("impfail", authv1.ProjectCluster{Name: "global", Quota: resources("requests.cpu", "1")}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Projects().Delete(context.Background(), "impfail", metav1.DeleteOptions{}) })
	legacyNamespace(ctx, t, "two-ranges", nil, "small", "large")
	legacyNamespace(ctx, t, "greedy", map[string]corev1.ResourceList{"big": resources("requests.cpu", "8")})
	legacyNamespace(ctx, t, "owned", nil)
	if _, err := kube.CoreV1().Namespaces().Update(ctx, projectNamespace("owned", "impfail"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, project, namespace, reason, mentions string
	}{
		{"several LimitRanges", "impfail", "two-ranges", "SeveralLimitRanges", "(large, small)"},
		{"quota over the project's", "impfail", "greedy", "QuotaExceeded", "requests.cpu: requested 8 but project impfail has 1 left"},
		{"namespace of another project", "impfail", "owned", "NamespaceInProject", "already belongs to project impfail"},
		{"missing namespace", "impfail", "nowhere", "NamespaceNotFound", "nowhere"},
		{"missing project", "ghost", "greedy", "ProjectNotFound", "ghost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "fail-" + strings.ReplaceAll(tc.name, " ", "-")
			name = strings.ToLower(strings.ReplaceAll(name, "'", ""))
			imp, err := admin.NamespaceImports().Create(ctx, namespaceImport(name, tc.project, tc.namespace), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = admin.NamespaceImports().Delete(context.Background(), name, metav1.DeleteOptions{}) })
			reason, message := importCondition(imp)
			if imp.Status.Phase != authv1.NamespaceImportFailed || reason != tc.reason || !strings.Contains(message, tc.mentions) {
				t.Errorf("got %s %s %q, want Failed %s mentioning %q", imp.Status.Phase, reason, message, tc.reason, tc.mentions)
			}
		})
	}
	// Each namespace is as it was: the label it had, and no default quota
	// or LimitRange (two-ranges is where one could have been copied).
	for namespace, project := range map[string]string{"two-ranges": "", "greedy": "", "owned": "impfail"} {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		if err != nil {
			t.Errorf("namespace %s after a failed import: %v", namespace, err)
		} else if ns.Labels[authv1.NamespaceProjectLabel] != project {
			t.Errorf("namespace %s after a failed import has labels %v, want %s=%q", namespace, ns.Labels, authv1.NamespaceProjectLabel, project)
		}
		if _, err := kube.CoreV1().ResourceQuotas(namespace).Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("failed import left a default quota in %s: %v", namespace, err)
		}
		if _, err := kube.CoreV1().LimitRanges(namespace).Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("failed import left a default LimitRange in %s: %v", namespace, err)
		}
	}

	_, err := admin.NamespaceImports().Create(ctx, &authv1.NamespaceImport{ObjectMeta: metav1.ObjectMeta{Name: "malformed"},
		Spec: authv1.NamespaceImportSpec{Project: "impfail", Namespace: "Not_A_Namespace"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.cluster") || !strings.Contains(err.Error(), "spec.namespace") {
		t.Errorf("malformed import: %v, want 422 naming spec.cluster and spec.namespace", err)
	}
	_, err = clientAs(t, "oscar").AuthV1().NamespaceImports().Create(ctx, namespaceImport("by-outsider", "impfail", "greedy"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("import by an outsider: %v, want 403", err)
	}
}

func TestConcurrentImportsOfOneNamespace(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1()
	for _, name := range []string{"race-a", "race-b"} {
		if _, err := admin.Projects().Create(ctx, projectWithQuota(name, authv1.ProjectCluster{Name: "global"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	legacyNamespace(ctx, t, "contested", map[string]corev1.ResourceList{"q": resources("pods", "10")})

	const attempts = 6
	var wg sync.WaitGroup
	results := make([]*authv1.NamespaceImport, attempts)
	errs := make([]error, attempts)
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			project := []string{"race-a", "race-b"}[i%2]
			results[i], errs[i] = admin.NamespaceImports().Create(ctx, namespaceImport(fmt.Sprintf("race-%d", i), project, "contested"), metav1.CreateOptions{})
		}(i)
	}
	wg.Wait()
	var winners []string
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("import %d: %v", i, errs[i])
		}
		if results[i].Status.Phase == authv1.NamespaceImportSucceeded {
			winners = append(winners, results[i].Spec.Project)
			continue
		}
		// A loser saw the namespace taken (NamespaceInProject) or lost the
		// race on a write (Conflict); nothing else may stop an import here.
		if reason, message := importCondition(results[i]); reason != "Conflict" && reason != "NamespaceInProject" {
			t.Errorf("import %d failed with %s (%s), want Conflict or NamespaceInProject", i, reason, message)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent imports succeeded (%v), want exactly 1", len(winners), attempts, winners)
	}

	kube := kubeClient(t)
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "contested", metav1.GetOptions{})
	if err != nil || ns.Labels[authv1.NamespaceProjectLabel] != winners[0] {
		t.Errorf("namespace contested after the race: %v, labels %v, want the winner %s", err, ns.Labels, winners[0])
	}
	quotas, err := kube.CoreV1().ResourceQuotas("contested").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range quotas.Items {
		names = append(names, q.Name)
		if q.Name == "default" && !sameResources(q.Spec.Hard, resources("pods", "10")) {
			t.Errorf("quota default holds %v, want the merged pods=10", q.Spec.Hard)
		}
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "default,q" {
		t.Errorf("quotas in contested after the race: %v, want default and q", names)
	}
}
