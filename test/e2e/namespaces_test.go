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
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func projectWithQuota(name string, clusters ...authv1.ProjectCluster) *authv1.Project {
	project := newProject(name)
	project.Spec.Clusters = clusters
	return project
}

func projectNamespace(name, project string) *corev1.Namespace {
	namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if project != "" {
		namespace.Labels = map[string]string{authv1.NamespaceProjectLabel: project}
	}
	return namespace
}

func quota(name string, hard corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
}

func expectRefusal(t *testing.T, what string, err error, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s was allowed, want a refusal mentioning %q", what, mentions)
		return
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s refused with %q, which does not mention %q", what, err, m)
		}
	}
}

func TestNamespacesFollowProjectRules(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	projects := archonClient(t, adminConfig(t)).AuthV1().Projects()
	for _, p := range []*authv1.Project{
		projectWithQuota("nsp", authv1.ProjectCluster{Name: "global", Quota: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("2"), "example.com/gpus": resource.MustParse("1"),
		}}),
		projectWithQuota("nsp2", authv1.ProjectCluster{Name: "global"}),
		projectWithQuota("edgeonly", authv1.ProjectCluster{Name: "edge"}),
	} {
		if _, err := projects.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		name := p.Name
		t.Cleanup(func() { _ = projects.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	namespaces := kube.CoreV1().Namespaces()
	create := func(namespace *corev1.Namespace) error {
		_, err := namespaces.Create(ctx, namespace, metav1.CreateOptions{})
		if err == nil {
			t.Cleanup(func() { _ = namespaces.Delete(context.Background(), namespace.Name, metav1.DeleteOptions{}) })
		}
		return err
	}

	if err := create(projectNamespace("nsp-dev", "nsp")); err != nil {
		t.Fatalf("a namespace following the rules: %v", err)
	}
	if err := create(projectNamespace("loose", "")); err != nil {
		t.Fatalf("a namespace outside projects: %v", err)
	}
	expectRefusal(t, "a namespace without the project prefix", create(projectNamespace("dev", "nsp")), "must be named nsp-<name>")
	expectRefusal(t, "a namespace of a missing project", create(projectNamespace("ghost-dev", "ghost")), "ghost", "does not exist")
	expectRefusal(t, "a namespace in a cluster the project lacks", create(projectNamespace("edgeonly-dev", "edgeonly")), "does not include cluster global")

	move := []byte(`{"metadata":{"labels":{"cpaas.io/project":"nsp2"}}}`)
	_, err := namespaces.Patch(ctx, "nsp-dev", types.MergePatchType, move, metav1.PatchOptions{})
	expectRefusal(t, "moving a namespace between projects in one step", err, "belongs to project nsp", "release it first")

	for _, name := range []string{"nsp-prod", "nsp-test"} {
		if err := create(projectNamespace(name, "nsp")); err != nil {
			t.Fatal(err)
		}
	}
	createQuota := func(namespace string, q *corev1.ResourceQuota) error {
		_, err := kube.CoreV1().ResourceQuotas(namespace).Create(ctx, q, metav1.CreateOptions{})
		return err
	}
	cpu := func(amount string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(amount)}
	}
	if err := createQuota("nsp-dev", quota("default", cpu("1500m"))); err != nil {
		t.Fatalf("a quota that fits: %v", err)
	}
	expectRefusal(t, "a quota over what is left", createQuota("nsp-prod", quota("default", cpu("1"))),
		"requests.cpu", "requested 1", "500m left")
	if err := createQuota("nsp-prod", quota("default", cpu("500m"))); err != nil {
		t.Fatalf("a quota taking exactly what is left: %v", err)
	}
	expectRefusal(t, "a quota when nothing is left", createQuota("nsp-test", quota("default", cpu("0"))),
		"requests.cpu", "none left")
	// A second quota in a namespace can only lower what it draws.
	if err := createQuota("nsp-dev", quota("tighter", cpu("1"))); err != nil {
		t.Fatalf("a tighter second quota: %v", err)
	}
	expectRefusal(t, "an unqualified custom key", createQuota("nsp-dev", quota("gpus", corev1.ResourceList{"gpus": resource.MustParse("1")})),
		`spec.hard[gpus]`)
	if err := createQuota("nsp-dev", quota("gpus", corev1.ResourceList{"example.com/gpus": resource.MustParse("1")})); err != nil {
		t.Fatalf("a qualified custom key within quota: %v", err)
	}
	for _, name := range []string{"nsp-prod", "nsp-test"} {
		if err := namespaces.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	quotas := kube.CoreV1().ResourceQuotas("nsp-dev")

	// The project's status follows its namespaces and their quotas, and the
	// project cannot be deleted while it owns a namespace.
	eventually(t, "project status", func() error {
		project, err := projects.Get(ctx, "nsp", metav1.GetOptions{})
		if err != nil {
			return err
		}
		status := project.Status
		if len(status.Namespaces) != 1 || status.Namespaces[0] != "nsp-dev" || len(status.Clusters) != 1 {
			return fmt.Errorf("status %+v", status)
		}
		used := status.Clusters[0].Used
		if status.Clusters[0].Name != "global" || used.Name(corev1.ResourceRequestsCPU, resource.DecimalSI).String() != "1" ||
			used.Name("example.com/gpus", resource.DecimalSI).String() != "1" || status.Clusters[0].Hard.Cpu() == nil {
			return fmt.Errorf("cluster status %+v", status.Clusters[0])
		}
		return nil
	})
	err = projects.Delete(ctx, "nsp", metav1.DeleteOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "nsp-dev") {
		t.Errorf("deleting a project that owns nsp-dev: %v, want 409 naming nsp-dev", err)
	}

	// Releasing keeps everything in the namespace; the rules stop applying.
	release := []byte(`{"metadata":{"labels":{"cpaas.io/project":null}}}`)
	if _, err := namespaces.Patch(ctx, "nsp-dev", types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatalf("releasing: %v", err)
	}
	left, err := quotas.List(ctx, metav1.ListOptions{})
	if err != nil || len(left.Items) != 3 {
		t.Errorf("quotas after release: %d (%v), want all 3 kept", len(left.Items), err)
	}
	if err := createQuota("nsp-dev", quota("after-release", cpu("64"))); err != nil {
		t.Errorf("a quota in a released namespace: %v", err)
	}
	eventually(t, "status after release", func() error {
		project, err := projects.Get(ctx, "nsp", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(project.Status.Namespaces) != 0 {
			return fmt.Errorf("namespaces %v", project.Status.Namespaces)
		}
		return nil
	})
	if err := projects.Delete(ctx, "nsp", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting a project without namespaces: %v", err)
	}
}

// The project webhooks fail closed (failurePolicy Fail) but see only
// namespaces in projects (their namespaceSelector): with archon stopped,
// namespaces outside projects and their quotas are never blocked, while
// those in projects wait for archon.
func TestStoppedArchonBlocksOnlyProjectNamespaces(t *testing.T) {
	ctx := testContext(t)
	kube := kubeClient(t)
	createProject(ctx, t, "down", "dora")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("down-dev", "down"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"down-dev", "down-free", "down-new"} {
		t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}

	start := stopArchon(t)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "down-free"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("creating a namespace outside projects with archon stopped: %v", err)
	}
	if _, err := kube.CoreV1().ResourceQuotas("down-free").Create(ctx, quota("q", resources("requests.cpu", "100")), metav1.CreateOptions{}); err != nil {
		t.Errorf("creating a quota outside projects with archon stopped: %v", err)
	}
	relabel := []byte(`{"metadata":{"labels":{"team":"ops"}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, "down-free", types.MergePatchType, relabel, metav1.PatchOptions{}); err != nil {
		t.Errorf("labeling a namespace outside projects with archon stopped: %v", err)
	}

	// Namespaces in projects fail closed, so the quota rules stay true.
	_, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("down-new", "down"), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "namespaces.auth.alauda.io"`) {
		t.Errorf("creating a namespace in a project with archon stopped: %v, want the webhook call to fail", err)
	}
	_, err = kube.CoreV1().ResourceQuotas("down-dev").Create(ctx, quota("q", resources("requests.cpu", "1")), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "resourcequotas.auth.alauda.io"`) {
		t.Errorf("creating a quota in a project namespace with archon stopped: %v, want the webhook call to fail", err)
	}

	start()
	eventually(t, "a quota in a project namespace once archon is back", func() error {
		_, err := kube.CoreV1().ResourceQuotas("down-dev").Create(ctx, quota("q", resources("requests.cpu", "1")), metav1.CreateOptions{})
		return err
	})
}
