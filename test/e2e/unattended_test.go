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
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// Endpoints kube-apiserver and the registry call answer nobody else: the
// admission webhooks once told anonymous callers other projects' quota
// and usage, and notifications accepted anonymous events.
func TestWebhooksAndNotificationsNeedCredentials(t *testing.T) {
	client := archonHTTP(t)
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"ResourceQuota"},"namespace":"default","operation":"CREATE","object":{"spec":{"hard":{"pods":"1"}}}}}`
	post := func(path, body, authorization string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, plane.ArchonURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/admission/resourcequotas", "/admission/namespaces", "/admission/application-owners",
		"/admission/application-components", "/admission/applications", "/admission/template-application-requesters", "/admission/pods", "/admission/uid-ranges"} {
		if resp := post(path, review, ""); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous POST %s: %d, want 401 or 403", path, resp.StatusCode)
		}
		token := tokenOf(t, "default", "webhook-prober")
		if resp := post(path, review, "Bearer "+token); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s by a ServiceAccount: %d, want 403", path, resp.StatusCode)
		}
	}
	event := `{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"default/phantom","tag":"v1"}}]}`
	for name, authorization := range map[string]string{"no credentials": "", "a wrong secret": "Bearer 0123456789abcdef0123456789abcdef"} {
		if resp := post("/registry/notifications", event, authorization); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("registry notification with %s: %d, want 401", name, resp.StatusCode)
		}
	}
	// kube-apiserver still reaches the webhooks, with its certificate:
	// a quota in a project namespace is reviewed.
	ctx := testContext(t)
	kube := kubeClient(t)
	if _, err := archonClient(t, adminConfig(t)).AuthV1().Projects().Create(ctx,
		projectWithQuota("hooked", authv1.ProjectCluster{Name: "global", Quota: resources("pods", "2")}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = archonClient(t, adminConfig(t)).AuthV1().Projects().Delete(context.Background(), "hooked", metav1.DeleteOptions{})
	})
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("hooked-a", "hooked"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), "hooked-a", metav1.DeleteOptions{})
	})
	_, err := kube.CoreV1().ResourceQuotas("hooked-a").Create(ctx, quota("big", resources("pods", "5")), metav1.CreateOptions{})
	expectRefusal(t, "a quota over the project's", err, "resourcequotas.auth.alauda.io", "pods: requested 5")
}

// tokenOf returns a token of a new ServiceAccount.
func tokenOf(t *testing.T, namespace, name string) string {
	t.Helper()
	return serviceAccountUser(t, namespace, name).token
}

// A replica that loses the controllers' lease and wins it back runs
// working controllers: they once kept running on shut-down queues, so
// removed members kept their rights.
func TestControllersSurviveLosingTheLease(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	leases := kube.CoordinationV1().Leases("archon-system")
	lease, err := leases.Get(ctx, "archon-controllers", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	archonIdentity := *lease.Spec.HolderIdentity

	// Another holder takes the lease for longer than archon's renew
	// deadline, so archon stops leading, then gets it back.
	thief, duration, now := "e2e-thief", int32(15), metav1.NewMicroTime(time.Now())
	lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: &thief, LeaseDurationSeconds: &duration, AcquireTime: &now, RenewTime: &now,
		LeaseTransitions: lease.Spec.LeaseTransitions}
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var regained *coordinationv1.Lease
	eventuallyWithin(t, 90*time.Second, "archon takes the lease back", func() error {
		var err error
		regained, err = leases.Get(ctx, "archon-controllers", metav1.GetOptions{})
		if err == nil && *regained.Spec.HolderIdentity == thief {
			err = fmt.Errorf("still held by %s", thief)
		}
		return err
	})
	if *regained.Spec.HolderIdentity != archonIdentity {
		t.Logf("lease now held by %s (was %s)", *regained.Spec.HolderIdentity, archonIdentity)
	}

	// The controllers work: membership drives RBAC, new namespaces get
	// their bindings, removed members lose them.
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	project := newProject("after-lease")
	project.Spec.Members = []authv1.ProjectMember{{Kind: authv1.MemberKindUser, Name: "stays", Role: authv1.ProjectRoleAdmin},
		{Kind: authv1.MemberKindUser, Name: "leaves", Role: authv1.ProjectRoleAdmin}}
	if _, err := projects.Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(context.Background(), "after-lease", metav1.DeleteOptions{}) })
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("after-lease-ns", "after-lease"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), "after-lease-ns", metav1.DeleteOptions{})
	})
	eventually(t, "the new namespace's bindings", func() error {
		binding, err := kube.RbacV1().RoleBindings("after-lease-ns").Get(ctx, "acp:project-admin", metav1.GetOptions{})
		if err == nil && subjectNames(binding.Subjects) != "User:leaves,User:stays" {
			err = fmt.Errorf("subjects %s", subjectNames(binding.Subjects))
		}
		return err
	})
	patch := `{"spec":{"members":[{"kind":"User","name":"stays","role":"project-admin"}]}}`
	if _, err := projects.Patch(ctx, "after-lease", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed member loses her rights", func() error {
		out, _ := kubectl(t, plane.KubeconfigPath, "", "auth", "can-i", "get", "pods", "-n", "after-lease-ns", "--as", "leaves")
		if strings.TrimSpace(out) != "no" {
			return fmt.Errorf("can-i: %q", out)
		}
		return nil
	})
}

// Bindings a namespace admin deletes, edits or unlabels come back within
// seconds, and the project says what was in the way; a deleted project's
// RBAC is gone before its name can be used again.
func TestProjectRBACIsRestoredAndRemovedFirst(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	project := newProject("kept")
	project.Spec.Members = []authv1.ProjectMember{{Kind: authv1.MemberKindUser, Name: "keeper", Role: authv1.ProjectRoleAdmin}}
	created, err := projects.Create(ctx, project, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !containsString(created.Finalizers, authv1.ProjectRBACFinalizer) {
		t.Errorf("a new project's finalizers: %v", created.Finalizers)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("kept-ns", "kept"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), "kept-ns", metav1.DeleteOptions{}) })
	bindings := kube.RbacV1().RoleBindings("kept-ns")
	restored := func(what string) {
		t.Helper()
		eventually(t, what, func() error {
			binding, err := bindings.Get(ctx, "acp:project-admin", metav1.GetOptions{})
			if err == nil && (subjectNames(binding.Subjects) != "User:keeper" || binding.Labels["auth.alauda.io/project"] != "kept") {
				err = fmt.Errorf("binding %v %s", binding.Labels, subjectNames(binding.Subjects))
			}
			return err
		})
	}
	restored("the project's binding")

	if err := bindings.Delete(ctx, "acp:project-admin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	restored("the binding restored after its deletion")
	edit := `{"metadata":{"labels":{"auth.alauda.io/project":null}},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"intruder"}]}`
	if _, err := bindings.Patch(ctx, "acp:project-admin", types.MergePatchType, []byte(edit), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	restored("the binding restored after it was unlabeled and given to another")
	eventually(t, "an Event on the project says what was in the way", func() error {
		events, err := kube.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=kept,involvedObject.kind=Project"})
		if err != nil {
			return err
		}
		for _, event := range events.Items {
			if event.Reason == "RoleBindingRestored" && event.Type == corev1.EventTypeWarning && strings.Contains(event.Message, "kept-ns/acp:project-admin") {
				return nil
			}
		}
		return fmt.Errorf("%d events, none about the restored binding", len(events.Items))
	})

	// Deletion: released namespaces first, then the project; its RBAC goes
	// before the name is free.
	if err := kube.CoreV1().Namespaces().Delete(ctx, "kept-ns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the namespace goes", func() error {
		if _, err := kube.CoreV1().Namespaces().Get(ctx, "kept-ns", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there: %w", err)
		}
		return nil
	})
	if err := projects.Delete(ctx, "kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the project is gone", func() error {
		if _, err := projects.Get(ctx, "kept", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("project still there: %w", err)
		}
		return nil
	})
	if _, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, "acp:project:kept:project-admin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the deleted project's ClusterRoleBinding outlived it: %v", err)
	}
}

func containsString(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}

// Quotas created at once in two namespaces of a project never both pass
// when the project has room for one: the webhook answers before
// kube-apiserver writes, so each review reserves what it allowed.
func TestConcurrentQuotasNeverOverdrawTheProject(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	if _, err := projects.Create(ctx, projectWithQuota("race-quota", authv1.ProjectCluster{Name: "global", Quota: resources("requests.cpu", "10")}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(context.Background(), "race-quota", metav1.DeleteOptions{}) })
	const rounds = 10
	for round := 0; round < rounds; round++ {
		// Each round has 10 CPUs left for two new namespaces asking 6 each.
		patch := fmt.Sprintf(`{"spec":{"clusters":[{"name":"global","quota":{"requests.cpu":"%d"}}]}}`, 6*round+10)
		if _, err := projects.Patch(ctx, "race-quota", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		namespaces := []string{fmt.Sprintf("race-quota-%d-a", round), fmt.Sprintf("race-quota-%d-b", round)}
		for _, ns := range namespaces {
			if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace(ns, "race-quota"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		}
		errs := make(chan error, len(namespaces))
		for _, ns := range namespaces {
			go func() {
				_, err := kube.CoreV1().ResourceQuotas(ns).Create(ctx, quota("compute", resources("requests.cpu", "6")), metav1.CreateOptions{})
				errs <- err
			}()
		}
		passed := 0
		for range namespaces {
			err := <-errs
			switch {
			case err == nil:
				passed++
			case !strings.Contains(err.Error(), "requests.cpu"):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if passed != 1 {
			t.Fatalf("round %d: %d of two quotas of 6 CPUs passed with 10 left", round, passed)
		}
	}
}
