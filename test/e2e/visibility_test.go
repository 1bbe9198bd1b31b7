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
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
)

const visibilityLabel = "suite=visibility"

func visibleProjects(ctx context.Context, t *testing.T, client archonclient.Interface) []string {
	t.Helper()
	list, err := client.AuthV1().Projects().List(ctx, metav1.ListOptions{LabelSelector: visibilityLabel})
	if err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion == "" {
		t.Error("list without a resourceVersion")
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

func TestMembersSeeTheirOwnProjects(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()
	for name, member := range map[string]authv1.ProjectMember{
		"vis-p1": {Kind: authv1.MemberKindUser, Name: "alice", Role: authv1.ProjectRoleAdmin},
		"vis-p2": {Kind: authv1.MemberKindGroup, Name: "team-p2", Role: authv1.ProjectRoleAuditor},
		"vis-p3": {Kind: authv1.MemberKindServiceAccount, Namespace: "ci", Name: "deployer", Role: authv1.ProjectRoleAdmin},
	} {
		project := newProject(name)
		project.Labels = map[string]string{"suite": "visibility"}
		project.Spec.Members = []authv1.ProjectMember{member}
		if _, err := admin.Create(ctx, project, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	rbac := kubeClient(t).RbacV1()
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-platform-auditors"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:platform-auditor"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "platform-auditors"}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})

	for _, tc := range []struct {
		who    string
		client archonclient.Interface
		want   []string
	}{
		{"alice, a direct member of vis-p1", clientAs(t, "alice"), []string{"vis-p1"}},
		{"bob, a member of vis-p2 through team-p2", clientAs(t, "bob", "team-p2"), []string{"vis-p2"}},
		{"the ci/deployer ServiceAccount", clientAs(t, "system:serviceaccount:ci:deployer", "system:serviceaccounts", "system:serviceaccounts:ci"), []string{"vis-p3"}},
		{"an auditor, who may get every project", clientAs(t, "audrey", "platform-auditors"), []string{"vis-p1", "vis-p2", "vis-p3"}},
		{"an outsider", clientAs(t, "oscar"), nil},
	} {
		t.Run(tc.who, func(t *testing.T) {
			// New RBAC bindings take a moment to reach both authorizers.
			eventually(t, "the projects "+tc.who+" sees", func() error {
				if got := visibleProjects(ctx, t, tc.client); !sameNames(got, tc.want) {
					return fmt.Errorf("sees %v, want %v", got, tc.want)
				}
				return nil
			})
		})
	}

	out, err := kubectl(t, mustKubeconfig(t, "alice"), "", "get", "projects", "-l", visibilityLabel, "-o", "name")
	if err != nil || out != "project.auth.alauda.io/vis-p1\n" {
		t.Errorf("kubectl get projects as alice: %q, %v", out, err)
	}
}

func TestWatchFollowsGrantAndRevoke(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()
	project := newProject("vis-watch")
	project.Labels = map[string]string{"suite": "visibility-watch"}
	project.Spec.Members = nil
	if _, err := admin.Create(ctx, project, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), "vis-watch", metav1.DeleteOptions{}) })

	dana := clientAs(t, "dana")
	list, err := dana.AuthV1().Projects().List(ctx, metav1.ListOptions{LabelSelector: "suite=visibility-watch"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := dana.AuthV1().Projects().Watch(ctx, metav1.ListOptions{LabelSelector: "suite=visibility-watch", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// An informer uses WatchList: initial events, then the end bookmark.
	factory := archoninformers.NewSharedInformerFactoryWithOptions(dana, 0,
		archoninformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "suite=visibility-watch" }))
	informer := factory.Auth().V1().Projects().Informer()
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, informer.HasSynced) {
		t.Fatal("dana's informer did not sync")
	}

	setMembers := func(members string) {
		t.Helper()
		patch := `{"spec":{"members":` + members + `}}`
		if _, err := admin.Patch(ctx, "vis-watch", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want watch.EventType) {
		t.Helper()
		select {
		case event := <-w.ResultChan():
			p, _ := event.Object.(*authv1.Project)
			if event.Type != want || p == nil || p.Name != "vis-watch" {
				t.Fatalf("got %s %v, want %s vis-watch", event.Type, event.Object, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event within 10s", want)
		}
	}
	informerHas := func(want bool) {
		t.Helper()
		eventuallyWithin(t, 10*time.Second, "dana's informer", func() error {
			if _, exists, _ := informer.GetStore().GetByKey("vis-watch"); exists != want {
				return fmt.Errorf("has vis-watch: %v, want %v", exists, want)
			}
			return nil
		})
	}

	informerHas(false)
	setMembers(`[{"name":"dana","role":"project-auditor"}]`)
	// A list is consistent: right after the change, without retrying.
	now, err := dana.AuthV1().Projects().List(ctx, metav1.ListOptions{LabelSelector: "suite=visibility-watch"})
	if err != nil {
		t.Errorf("dana's list right after being added: %v", err)
	} else if len(now.Items) != 1 {
		t.Errorf("dana's list right after being added has %d projects, want vis-watch alone", len(now.Items))
	}
	expect(watch.Added)
	informerHas(true)
	setMembers(`[{"name":"dana","role":"project-admin"}]`)
	expect(watch.Modified)
	setMembers(`[]`)
	expect(watch.Deleted)
	informerHas(false)
}

// A member's list is never paginated (docs/tenancy.md): a continue token
// names where the store stopped, which may be another tenant's project, so
// limit is ignored and all of the member's projects come in one response.
func TestMemberListsIgnoreLimitAndIssueNoContinueToken(t *testing.T) {
	ctx := testContext(t)
	admin := archonClient(t, adminConfig(t)).AuthV1().Projects()
	const selector = "suite=visibility-pages"
	for _, name := range []string{"vis-page-1", "vis-page-2", "vis-page-3", "vis-page-other"} {
		project := newProject(name)
		project.Labels = map[string]string{"suite": "visibility-pages"}
		if name != "vis-page-other" {
			project.Spec.Members = append(project.Spec.Members, authv1.ProjectMember{Kind: authv1.MemberKindUser, Name: "paula", Role: authv1.ProjectRoleAuditor})
		}
		if _, err := admin.Create(ctx, project, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	paula := clientAs(t, "paula").AuthV1().Projects()
	list, err := paula.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if want := []string{"vis-page-1", "vis-page-2", "vis-page-3"}; !sameNames(names, want) {
		t.Errorf("paula's list with limit 1: %v, want all of her projects %v", names, want)
	}
	if list.Continue != "" || list.RemainingItemCount != nil {
		t.Errorf("paula's list carries continue %q and remainingItemCount %v, want neither", list.Continue, list.RemainingItemCount)
	}
	_, err = paula.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1, Continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "continue tokens are not issued") {
		t.Errorf("paula's list with a continue token: %v, want 400 saying no tokens are issued", err)
	}
	out, err := kubectl(t, mustKubeconfig(t, "paula"), "", "get", "projects", "-l", selector, "--chunk-size=1", "-o", "name")
	if err != nil || strings.Count(out, "project.auth.alauda.io/vis-page-") != 3 || strings.Contains(out, "vis-page-other") {
		t.Errorf("kubectl get projects --chunk-size=1 as paula: %v\n%s", err, out)
	}

	// Those who may get every project get the store's pages.
	page, err := admin.List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Continue == "" {
		t.Errorf("the admin's list with limit 1: %v, want one project and a continue token", err)
	}
}
