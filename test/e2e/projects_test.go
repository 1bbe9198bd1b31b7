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
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	authapply "github.com/acp-archon/archon/pkg/generated/applyconfiguration/auth/v1"
)

func newProject(name string) *authv1.Project {
	return &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{authv1.DisplayNameAnnotation: "Project " + name},
		},
		Spec: authv1.ProjectSpec{
			Clusters: []authv1.ProjectCluster{{
				Name:  "global",
				Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")},
			}},
			Members: []authv1.ProjectMember{{Name: "alice", Role: authv1.ProjectRoleAdmin}},
		},
	}
}

func TestDiscoveryListsProjects(t *testing.T) {
	resources, err := kubeClient(t).Discovery().ServerResourcesForGroupVersion(authv1.SchemeGroupVersion.String())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]metav1.APIResource{}
	for _, r := range resources.APIResources {
		found[r.Name] = r
	}
	projects, ok := found["projects"]
	if !ok {
		t.Fatalf("discovery of %s has no projects: %v", authv1.SchemeGroupVersion, resources.APIResources)
	}
	if projects.Namespaced || projects.Kind != "Project" || !strings.Contains(strings.Join(projects.ShortNames, ","), "proj") {
		t.Errorf("projects discovered as %+v, want cluster-scoped kind Project with short name proj", projects)
	}
	if _, ok := found["projects/status"]; !ok {
		t.Error("discovery has no projects/status subresource")
	}

	// kubectl reads kube-apiserver's aggregated discovery, which leaves a
	// group out for a moment after its server was restarted (as another
	// test does).
	eventually(t, "kubectl api-resources lists projects", func() error {
		out := adminKubectl(t, "", "api-resources", "--api-group=auth.alauda.io")
		if !strings.Contains(out, "projects") || !strings.Contains(out, "auth.alauda.io/v1") {
			return fmt.Errorf("kubectl api-resources --api-group=auth.alauda.io:\n%s", out)
		}
		return nil
	})
}

func TestProjectLifecycleWithClientset(t *testing.T) {
	ctx := testContext(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()

	watcher, err := projects.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()

	created, err := projects.Create(ctx, newProject("lifecycle"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.Phase != authv1.ProjectActive || created.Spec.Members[0].Kind != authv1.MemberKindUser {
		t.Errorf("created project has phase %q and member kind %q, want Active and the defaulted User",
			created.Status.Phase, created.Spec.Members[0].Kind)
	}

	got, err := projects.Get(ctx, "lifecycle", metav1.GetOptions{})
	if err != nil || got.UID != created.UID {
		t.Fatalf("get: %v, uid %s want %s", err, got.UID, created.UID)
	}

	patched, err := projects.Patch(ctx, "lifecycle", types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"team":"blue"}},"spec":{"members":[{"name":"bob","role":"project-auditor"}]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Labels["team"] != "blue" || len(patched.Spec.Members) != 1 || patched.Spec.Members[0].Name != "bob" {
		t.Errorf("patch not applied: labels %v members %v", patched.Labels, patched.Spec.Members)
	}

	list, err := projects.List(ctx, metav1.ListOptions{LabelSelector: "team=blue"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "lifecycle" || list.ResourceVersion == "" {
		t.Errorf("list by label: %d items, resourceVersion %q", len(list.Items), list.ResourceVersion)
	}

	if err := projects.Delete(ctx, "lifecycle", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The RBAC finalizer holds the project until its members' rights are
	// gone; then it goes.
	eventually(t, "the deleted project goes", func() error {
		if _, err := projects.Get(ctx, "lifecycle", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("get after delete: %w, want NotFound", err)
		}
		return nil
	})

	// The status controller may add MODIFIED events of its own.
	var events []watch.EventType
	for len(events) == 0 || events[len(events)-1] != watch.Deleted {
		select {
		case event := <-watcher.ResultChan():
			events = append(events, event.Type)
		case <-ctx.Done():
			t.Fatalf("watch saw %v before timing out, want ADDED, MODIFIED..., DELETED", events)
		}
	}
	if len(events) < 3 || events[0] != watch.Added {
		t.Errorf("watch events %v, want ADDED, then MODIFIED for the patch, then DELETED", events)
	}
	for _, event := range events[1 : len(events)-1] {
		if event != watch.Modified {
			t.Errorf("watch events %v, want only MODIFIED between ADDED and DELETED", events)
		}
	}
}

func TestPaginationAndFieldSelectors(t *testing.T) {
	ctx := testContext(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	names := []string{"page-a", "page-b", "page-c", "page-d", "page-e"}
	for _, name := range names {
		project := newProject(name)
		project.Labels = map[string]string{"suite": "pagination"}
		if _, err := projects.Create(ctx, project, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = projects.Delete(ctx, name, metav1.DeleteOptions{}) })
	}

	var seen []string
	opts := metav1.ListOptions{LabelSelector: "suite=pagination", Limit: 2}
	for pages := 0; ; pages++ {
		page, err := projects.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items with limit 2", len(page.Items))
		}
		for _, p := range page.Items {
			seen = append(seen, p.Name)
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	if strings.Join(seen, ",") != strings.Join(names, ",") {
		t.Errorf("paginated list gave %v, want %v", seen, names)
	}

	for selector, want := range map[string]int{
		"metadata.name=page-c":                      1,
		"status.phase=Active,metadata.name!=page-c": 4,
		"status.phase=Terminating":                  0,
	} {
		list, err := projects.List(ctx, metav1.ListOptions{LabelSelector: "suite=pagination", FieldSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != want {
			t.Errorf("field selector %q matched %d projects, want %d", selector, len(list.Items), want)
		}
	}
	if _, err := projects.List(ctx, metav1.ListOptions{FieldSelector: "spec.clusters=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector gave %v, want 400 Bad Request", err)
	}
}

func TestKubectlTableAndExplain(t *testing.T) {
	adminKubectl(t, `
apiVersion: auth.alauda.io/v1
kind: Project
metadata:
  name: table
  annotations:
    cpaas.io/display-name: Table Project
spec:
  clusters: [{name: global}, {name: edge}]
  members: [{name: alice, role: project-admin}, {kind: Group, name: devs, role: project-auditor}]
`, "create", "-f", "-")
	t.Cleanup(func() { adminKubectl(t, "", "delete", "project", "table") })

	out := adminKubectl(t, "", "get", "projects", "table")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get projects table:\n%s", out)
	}
	if header := strings.Fields(lines[0]); strings.Join(header, " ") != "NAME DISPLAY-NAME CLUSTERS NAMESPACES MEMBERS STATUS AGE" {
		t.Errorf("header %v", header)
	}
	if row := strings.Fields(lines[1]); len(row) < 7 || row[0] != "table" || row[1] != "Table" || row[3] != "global,edge" || row[5] != "2" || row[6] != "Active" {
		t.Errorf("row %q", lines[1])
	}

	explain := adminKubectl(t, "", "explain", "project.spec.clusters")
	for _, want := range []string{"KIND:       Project", "quota", "name"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain project.spec.clusters lacks %q:\n%s", want, explain)
		}
	}
}

func TestServerSideApply(t *testing.T) {
	ctx := testContext(t)
	manifest := `
apiVersion: auth.alauda.io/v1
kind: Project
metadata:
  name: applied
spec:
  clusters:
  - name: global
    quota: {requests.cpu: "2"}
`
	out := adminKubectl(t, manifest, "apply", "--server-side", "-f", "-")
	if !strings.Contains(out, "serverside-applied") {
		t.Errorf("kubectl apply --server-side: %s", out)
	}
	t.Cleanup(func() { adminKubectl(t, "", "delete", "project", "applied") })

	// A second manager adds a cluster; the list is a map keyed by name, so
	// kubectl's cluster survives.
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	applied, err := projects.Apply(ctx,
		authapply.Project("applied").WithSpec(authapply.ProjectSpec().WithClusters(
			authapply.ProjectCluster().WithName("edge"))),
		metav1.ApplyOptions{FieldManager: "edge-operator"})
	if err != nil {
		t.Fatal(err)
	}
	var clusters []string
	for _, c := range applied.Spec.Clusters {
		clusters = append(clusters, c.Name)
	}
	if strings.Join(clusters, ",") != "global,edge" {
		t.Errorf("clusters after a second manager's apply: %v, want global,edge", clusters)
	}

	// Changing a field another manager owns is a conflict.
	_, err = projects.Apply(ctx,
		authapply.Project("applied").WithSpec(authapply.ProjectSpec().WithClusters(
			authapply.ProjectCluster().WithName("global").WithQuota(corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("8")}))),
		metav1.ApplyOptions{FieldManager: "edge-operator"})
	if !apierrors.IsConflict(err) {
		t.Errorf("apply over kubectl's quota: %v, want 409 Conflict", err)
	}

	extracted, err := authapply.ExtractProject(applied, "edge-operator")
	if err != nil {
		t.Fatal(err)
	}
	if extracted.Spec == nil || len(extracted.Spec.Clusters) != 1 || *extracted.Spec.Clusters[0].Name != "edge" {
		t.Errorf("ExtractProject for edge-operator: %+v", extracted.Spec)
	}
}

func memberNames(project *authv1.Project) string {
	var names []string
	for _, m := range project.Spec.Members {
		names = append(names, m.Name+"="+string(m.Role))
	}
	return strings.Join(names, ",")
}

// spec.members is an atomic list: an apply replaces it as a whole, and a
// JSON patch edits it by index.
func TestServerSideApplyReplacesMembersAndJSONPatchEditsThem(t *testing.T) {
	ctx := testContext(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	member := func(name string, role authv1.ProjectRole) *authapply.ProjectMemberApplyConfiguration {
		return authapply.ProjectMember().WithName(name).WithRole(role)
	}
	apply := func(manager string, force bool, members ...*authapply.ProjectMemberApplyConfiguration) (*authv1.Project, error) {
		return projects.Apply(ctx, authapply.Project("applied-members").WithSpec(authapply.ProjectSpec().
			WithClusters(authapply.ProjectCluster().WithName("global")).WithMembers(members...)),
			metav1.ApplyOptions{FieldManager: manager, Force: force})
	}
	if _, err := apply("team-operator", false, member("alice", authv1.ProjectRoleAdmin), member("bob", authv1.ProjectRoleAuditor)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(context.Background(), "applied-members", metav1.DeleteOptions{}) })

	// Dropping bob from the applied list drops him from the project.
	applied, err := apply("team-operator", false, member("alice", authv1.ProjectRoleAdmin))
	if err != nil {
		t.Fatal(err)
	}
	if got := memberNames(applied); got != "alice=project-admin" {
		t.Errorf("members after applying alice alone: %s, want alice=project-admin", got)
	}
	// Another manager's list is not merged in: it conflicts, and forced it
	// replaces the whole list.
	if _, err := apply("other-operator", false, member("carol", authv1.ProjectRoleAdmin)); !apierrors.IsConflict(err) {
		t.Errorf("another manager's members: %v, want 409 Conflict", err)
	}
	applied, err = apply("other-operator", true, member("carol", authv1.ProjectRoleAdmin))
	if err != nil {
		t.Fatal(err)
	}
	if got := memberNames(applied); got != "carol=project-admin" {
		t.Errorf("members after a forced apply of carol: %s, want carol=project-admin", got)
	}

	patch := `[{"op":"add","path":"/spec/members/-","value":{"name":"dave","role":"project-auditor"}},` +
		`{"op":"replace","path":"/spec/members/0/role","value":"project-auditor"}]`
	patched, err := projects.Patch(ctx, "applied-members", types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("JSON patch: %v", err)
	}
	if got := memberNames(patched); got != "carol=project-auditor,dave=project-auditor" {
		t.Errorf("members after a JSON patch: %s, want carol and dave as auditors", got)
	}
	out := adminKubectl(t, "", "patch", "project", "applied-members", "--type=json",
		"-p", `[{"op":"remove","path":"/spec/members/1"}]`, "-o", "jsonpath={.spec.members[*].name}")
	if out != "carol" {
		t.Errorf("members after kubectl patch --type=json: %q, want carol", out)
	}
	failing := `[{"op":"test","path":"/spec/members/0/name","value":"nobody"},{"op":"remove","path":"/spec/members/0"}]`
	if _, err := projects.Patch(ctx, "applied-members", types.JSONPatchType, []byte(failing), metav1.PatchOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("a JSON patch whose test fails: %v, want 422", err)
	}
	if got, err := projects.Get(ctx, "applied-members", metav1.GetOptions{}); err != nil || memberNames(got) != "carol=project-auditor" {
		t.Errorf("members after a refused JSON patch: %v %v, want carol unchanged", err, got)
	}
}

func TestBadInputGetsClearClientErrors(t *testing.T) {
	ctx := testContext(t)
	rest := archonClient(t, adminConfig(t)).AuthV1().RESTClient()
	for _, tc := range []struct {
		name, body string
		code       int
		mentions   string
	}{
		{"malformed JSON", `{"apiVersion":`, http.StatusBadRequest, "unexpected end of JSON input"},
		{"unknown field", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"strict"},"spec":{"owner":"x"}}`, http.StatusBadRequest, "spec.owner"},
		{"invalid name", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"Not_A_Label"}}`, http.StatusUnprocessableEntity, "metadata.name"},
		{"invalid quantity", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"qty"},"spec":{"clusters":[{"name":"a","quota":{"cpu":"lots"}}]}}`, http.StatusBadRequest, "quantities must match"},
		{"negative quantity", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"neg"},"spec":{"clusters":[{"name":"a","quota":{"cpu":"-1"}}]}}`, http.StatusUnprocessableEntity, "spec.clusters[0].quota[cpu]"},
		{"duplicate clusters", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"dup"},"spec":{"clusters":[{"name":"a"},{"name":"a"}]}}`, http.StatusUnprocessableEntity, "spec.clusters[1].name"},
		{"oversized object", `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"big","annotations":{"blob":"` + strings.Repeat("x", 1600*1024) + `"}}}`, http.StatusRequestEntityTooLarge, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			result := rest.Post().Resource("projects").Param("fieldValidation", "Strict").
				SetHeader("Content-Type", "application/json").Body([]byte(tc.body)).Do(ctx)
			var code int
			result.StatusCode(&code)
			err := result.Error()
			if code != tc.code {
				t.Fatalf("status %d (%v), want %d", code, err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
		})
	}

	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	if _, err := projects.Create(ctx, newProject("conflict"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(ctx, "conflict", metav1.DeleteOptions{}) })
	var stale *authv1.Project
	// The status controller writes too; retry until this update wins.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		project, err := projects.Get(ctx, "conflict", metav1.GetOptions{})
		if err != nil {
			return err
		}
		stale = project.DeepCopy()
		project.Spec.Clusters = nil
		_, err = projects.Update(ctx, project, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stale.Spec.Members = nil
	if _, err := projects.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update from a stale resourceVersion: %v, want 409 Conflict", err)
	}
}

func TestRBACDecidesWhoSeesProjects(t *testing.T) {
	ctx := testContext(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	if _, err := projects.Create(ctx, newProject("rbac-target"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(ctx, "rbac-target", metav1.DeleteOptions{}) })

	kubeconfig, err := plane.UserKubeconfig("carol", "qa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(t, kubeconfig, "", "get", "project", "rbac-target"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Fatalf("carol without RBAC: %v, want Forbidden", err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archonClient(t, config).AuthV1().Projects().Create(ctx, newProject("carols"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("carol's create: %v, want 403", err)
	}

	rbac := kubeClient(t).RbacV1()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-project-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{authv1.GroupName}, Resources: []string{"projects"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-project-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "qa"}},
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	})

	// kube-apiserver's RBAC authorizer sees the binding through its informer
	// within moments; archon then asks again by SubjectAccessReview.
	eventually(t, "carol reads the project after the binding", func() error {
		_, err := kubectl(t, kubeconfig, "", "get", "project", "rbac-target")
		return err
	})
	if _, err := kubectl(t, kubeconfig, `{"apiVersion":"auth.alauda.io/v1","kind":"Project","metadata":{"name":"carols"}}`, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol may read but created a project: %v", err)
	}
}

func TestDataSurvivesArchonRestart(t *testing.T) {
	ctx := testContext(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	created, err := projects.Create(ctx, newProject("durable"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = projects.Delete(ctx, "durable", metav1.DeleteOptions{}) })

	restartArchon(t)
	got, err := projects.Get(ctx, "durable", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != created.UID || got.Annotations[authv1.DisplayNameAnnotation] != "Project durable" {
		t.Errorf("after restart: uid %s annotations %v, want uid %s", got.UID, got.Annotations, created.UID)
	}
}

func TestVersionsParse(t *testing.T) {
	out := adminKubectl(t, "", "version", "-o", "json")
	var versions struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(out), &versions); err != nil || versions.ServerVersion.GitVersion == "" {
		t.Errorf("kubectl version -o json: %v\n%s", err, out)
	}

	// archon answers /version itself too, with its own release.
	direct := adminConfig(t)
	direct.Host = plane.ArchonURL
	version, err := archonClient(t, direct).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version.GitVersion, "v") || version.GitVersion == "v0.0.0-master+$Format:%H$" {
		t.Errorf("archon /version gitVersion %q, want the release set by the build", version.GitVersion)
	}
}
