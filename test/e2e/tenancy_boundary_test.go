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
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// The tests of this file are the attacks of docs/security.md: each one
// failed on the archon that had the hole.

// allowNamespaceUpdates lets user update the named namespaces (and
// nothing else), the right an import of them needs.
func allowNamespaceUpdates(ctx context.Context, t *testing.T, user string, namespaces ...string) {
	t.Helper()
	kube := kubeClient(t)
	name := "e2e:update-namespaces:" + user
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "namespaces/status"}, ResourceNames: namespaces,
			Verbs: []string{"get", "update", "patch"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// createProject makes a project as cluster admin with admin as its
// project-admin, and deletes it when the test ends.
func createProject(ctx context.Context, t *testing.T, name, admin string) {
	t.Helper()
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	project := newProject(name)
	project.Spec.Members = []authv1.ProjectMember{{Kind: authv1.MemberKindUser, Name: admin, Role: authv1.ProjectRoleAdmin}}
	if _, err := projects.Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// A project admin cannot take a namespace she may not update, whatever
// its name, and nobody can take the cluster's or archon's own: the import
// once made mallory cluster-admin in three commands.
func TestNamespaceImportNeedsTheRightToUpdateTheNamespace(t *testing.T) {
	ctx := testContext(t)
	createProject(ctx, t, "pwn", "mallory")
	legacyNamespace(ctx, t, "victim", nil)
	legacyNamespace(ctx, t, "guarded", nil)
	legacyNamespace(ctx, t, "hers", nil)
	kube := kubeClient(t)
	guarded, err := kube.CoreV1().Namespaces().Get(ctx, "guarded", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	guarded.Labels[authv1.ProtectedNamespaceLabel] = "true"
	if _, err := kube.CoreV1().Namespaces().Update(ctx, guarded, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	allowNamespaceUpdates(ctx, t, "mallory", "guarded", "hers")

	mallory := clientAs(t, "mallory").AuthV1().NamespaceImports()
	eventually(t, "mallory administers pwn", func() error {
		_, err := mallory.Create(ctx, namespaceImport("probe", "pwn", "hers"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	})
	for _, tc := range []struct {
		namespace, mentions string
	}{
		{"kube-system", "protected"},
		{"archon-system", "protected"},
		{"default", "protected"},
		{"victim", "needs permission to update it"},
		{"guarded", "protected"},
	} {
		for _, dryRun := range [][]string{{metav1.DryRunAll}, nil} {
			_, err := mallory.Create(ctx, namespaceImport("take-"+tc.namespace, "pwn", tc.namespace), metav1.CreateOptions{DryRun: dryRun})
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("mallory imports %s (dry run %v): %v, want 403 mentioning %q", tc.namespace, dryRun != nil, err, tc.mentions)
			}
		}
		ns, err := kube.CoreV1().Namespaces().Get(ctx, tc.namespace, metav1.GetOptions{})
		if err != nil || ns.Labels[authv1.NamespaceProjectLabel] != "" {
			t.Errorf("namespace %s after the refused imports: %v %v", tc.namespace, err, ns.Labels)
		}
	}
	// Protected namespaces are refused to cluster administrators too.
	admin := archonClient(t, adminConfig(t)).AuthV1().NamespaceImports()
	if _, err := admin.Create(ctx, namespaceImport("admin-takes-kube-public", "pwn", "kube-public"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("cluster admin imports kube-public: %v, want 403", err)
	}

	// What she may update she may import.
	imp, err := mallory.Create(ctx, namespaceImport("take-hers", "pwn", "hers"), metav1.CreateOptions{})
	if err != nil || imp.Status.Phase != authv1.NamespaceImportSucceeded {
		t.Fatalf("mallory imports a namespace she may update: %v %+v", err, imp)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), "take-hers", metav1.DeleteOptions{}) })

	out, _ := kubectl(t, plane.KubeconfigPath, "", "auth", "can-i", "get", "secrets", "-n", "kube-system", "--as", "mallory")
	if strings.TrimSpace(out) != "no" {
		t.Errorf("kubectl auth can-i get secrets -n kube-system --as mallory: %q, want no", out)
	}
}

// Putting a namespace into a project hands it to the project's admins:
// the webhook lets only those who may update the project do it, whoever
// else may edit namespaces.
func TestOnlyProjectUpdatersPutNamespacesIntoProjects(t *testing.T) {
	ctx := testContext(t)
	createProject(ctx, t, "walled", "warden")
	legacyNamespace(ctx, t, "walled-door", nil)
	allowNamespaceUpdates(ctx, t, "editor", "walled-door", "kube-node-lease")
	editor := kubeClientAs(t, "editor")
	label := func(client kubernetes.Interface, namespace, project string) error {
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, authv1.NamespaceProjectLabel, project)
		_, err := client.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
	expectRefusal(t, "an editor of namespaces labeling one into a project she may not update",
		label(editor, "walled-door", "walled"), "needs permission to update the project")
	expectRefusal(t, "labeling a protected namespace into a project", label(kubeClient(t), "kube-node-lease", "walled"), "protected")

	// The status subresource keeps label changes: it may not change the
	// project label at all.
	door, err := editor.CoreV1().Namespaces().Get(ctx, "walled-door", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	door.Labels[authv1.NamespaceProjectLabel] = "walled"
	_, err = editor.CoreV1().Namespaces().UpdateStatus(ctx, door, metav1.UpdateOptions{})
	expectRefusal(t, "labeling a namespace into a project through its status", err, "cpaas.io/project", "status subresource")

	// The project's admin may, once she may also edit the namespace, and
	// as long as its quotas fit what the project has left.
	allowNamespaceUpdates(ctx, t, "warden", "walled-door", "walled-rich", "walled-vault")
	warden := kubeClientAs(t, "warden")
	eventually(t, "the project's admin labels the namespace into it", func() error { return label(warden, "walled-door", "walled") })
	legacyNamespace(ctx, t, "walled-rich", map[string]corev1.ResourceList{"big": resources("requests.cpu", "100")})
	expectRefusal(t, "a namespace joining with more quota than the project has left", label(warden, "walled-rich", "walled"), "requests.cpu", "walled")

	// A namespace protected by its label stays out, and the label stays
	// on unless a cluster administrator takes it off.
	legacyNamespace(ctx, t, "walled-vault", nil)
	kube := kubeClient(t)
	vault, err := kube.CoreV1().Namespaces().Get(ctx, "walled-vault", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vault.Labels[authv1.ProtectedNamespaceLabel] = "true"
	if _, err := kube.CoreV1().Namespaces().Update(ctx, vault, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	unprotect := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, authv1.ProtectedNamespaceLabel)
	unprotectAndJoin := fmt.Sprintf(`{"metadata":{"labels":{%q:null,%q:"walled"}}}`, authv1.ProtectedNamespaceLabel, authv1.NamespaceProjectLabel)
	for what, patch := range map[string]string{"removing the protection": unprotect, "removing it and joining in one step": unprotectAndJoin} {
		_, err := warden.CoreV1().Namespaces().Patch(ctx, "walled-vault", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		expectRefusal(t, what+" by a project admin who may update the namespace", err, "protected")
	}
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, "walled-vault", types.MergePatchType, []byte(unprotect), metav1.PatchOptions{}); err != nil {
		t.Errorf("a cluster administrator removing the protection: %v", err)
	}
}

// Project admins manage members, not their own quota: spec.clusters needs
// the manage-clusters verb, which only platform administrators hold.
func TestProjectAdminsCannotRaiseTheirQuota(t *testing.T) {
	ctx := testContext(t)
	createProject(ctx, t, "frugal", "penny")
	penny := clientAs(t, "penny").AuthV1().Projects()
	raise := []byte(`{"spec":{"clusters":[{"name":"global","quota":{"requests.cpu":"4000"}}]}}`)
	eventually(t, "penny administers frugal", func() error {
		_, err := penny.Patch(ctx, "frugal", types.MergePatchType, []byte(`{"metadata":{"annotations":{"cpaas.io/description":"saving"}}}`), metav1.PatchOptions{})
		return err
	})
	_, err := penny.Patch(ctx, "frugal", types.MergePatchType, raise, metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), authv1.ManageClustersVerb) {
		t.Errorf("a project admin raising her quota: %v, want 403 naming %s", err, authv1.ManageClustersVerb)
	}
	_, err = penny.Patch(ctx, "frugal", types.MergePatchType, raise, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the same as a dry run: %v, want 403", err)
	}
	bindRoleCluster(ctx, t, "platform-boss", "acp:platform-admin")
	boss := clientAs(t, "platform-boss").AuthV1().Projects()
	eventually(t, "a platform admin changes the quota", func() error {
		_, err := boss.Patch(ctx, "frugal", types.MergePatchType, raise, metav1.PatchOptions{})
		return err
	})
}

// bindRoleCluster binds a ClusterRole to user cluster-wide for the test.
func bindRoleCluster(ctx context.Context, t *testing.T, user, role string) {
	t.Helper()
	kube := kubeClient(t)
	name := "e2e:" + user + ":" + role
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// A member's list holds her projects and nothing that names another: no
// continue token (which names where the store stopped), whatever the
// limit and label selector.
func TestMemberListsNameNoOtherProject(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()
	for _, name := range []string{"aaa-list-other", "bbb-list-mine", "ccc-list-other"} {
		project := newProject(name)
		project.Labels = map[string]string{"suite": "member-lists"}
		if name == "bbb-list-mine" {
			project.Spec.Members = append(project.Spec.Members, authv1.ProjectMember{Kind: authv1.MemberKindUser, Name: "lister", Role: authv1.ProjectRoleAuditor})
		}
		if _, err := admin.Create(ctx, project, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	lister := clientAs(t, "lister").AuthV1().Projects()
	for _, selector := range []string{"", "suite=member-lists"} {
		for _, limit := range []int64{0, 1, 2} {
			var list *authv1.ProjectList
			eventually(t, "lister's list", func() error {
				var err error
				list, err = lister.List(ctx, metav1.ListOptions{Limit: limit, LabelSelector: selector})
				if err == nil && len(list.Items) != 1 {
					err = fmt.Errorf("%d projects", len(list.Items))
				}
				return err
			})
			raw, _ := json.Marshal(list)
			if list.Continue != "" || list.RemainingItemCount != nil || strings.Contains(string(raw), "list-other") || list.Items[0].Name != "bbb-list-mine" {
				t.Errorf("limit %d, selector %q: %s", limit, selector, raw)
			}
		}
	}
	if _, err := lister.List(ctx, metav1.ListOptions{Limit: 1, Continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJhYWEifQ"}); !apierrors.IsBadRequest(err) {
		t.Errorf("a member's list with a continue token: %v, want 400", err)
	}
}
