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

package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/acp-archon/archon/internal/localplane"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

const (
	namespacesPerProject = 4
	memberOf             = 50
	listSamples          = 200
	// membershipChanges is how many changes each visibility measure
	// times: at least 100, so that a p99 is one.
	membershipChanges = 100
	importSamples     = 20
	quotasPerImport   = 5
	benchUser         = "bench-user"
	loadWorkers       = 8

	// memberListLimit is the most a member's project list may cost over
	// the same user's list of as many labeled CRD objects, at p50.
	memberListLimit = 2
	// visibilityLimit is the p99 within which a membership change must
	// reach the member's watch and list.
	visibilityLimit = time.Second
	// importLimit is the p50 an import of a namespace may take.
	importLimit = 200 * time.Millisecond
)

var (
	// tenancyProjects leaves room for the bench user's projects and for
	// the projects each visibility measure adds them to.
	tenancyProjects   = scaled(5000, memberOf+2*membershipChanges)
	extraRoleBindings = scaled(30000, 0) // on top of the controllers', to reach about 70,000
)

// BenchmarkTenancy loads a platform of 5,000 projects, 20,000 namespaces
// and about 70,000 RoleBindings (20,000 of them image pullers') and
// measures what members feel: listing their 50 projects against listing
// 50 labeled CRD objects as the same user, how fast a membership change
// shows in an open watch and, separately, in a list, archon's memory, and
// the latency of importing a namespace with 5 ResourceQuotas.
func BenchmarkTenancy(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)

	config := unthrottled(plane)
	kube := kubernetes.NewForConfigOrDie(config)
	archon := archonclient.NewForConfigOrDie(config)
	dyn := dynamic.NewForConfigOrDie(config)
	installCRD(ctx, b, dyn)
	// The bench user reads the CRD through a role of its own, so that
	// both lists go through the same authentication and RBAC.
	grantCRDRead(ctx, b, kube, benchUser)
	mustQuiet(b)
	idleRSS := settledRSS(b, plane.ArchonPID())
	// The plane's own RoleBindings (system namespaces, their pullers) are
	// not part of the load.
	baseline := countRoleBindings(ctx, b, kube)

	start := time.Now()
	parallel(b, tenancyProjects, func(i int) error {
		member := authv1.ProjectMember{Kind: authv1.MemberKindUser, Name: fmt.Sprintf("owner-%d", i), Role: authv1.ProjectRoleAdmin}
		members := []authv1.ProjectMember{member}
		if i < memberOf {
			members = append(members, authv1.ProjectMember{Kind: authv1.MemberKindUser, Name: benchUser, Role: authv1.ProjectRoleAuditor})
		}
		_, err := archon.AuthV1().Projects().Create(ctx, &authv1.Project{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%04d", i)},
			Spec:       authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{{Name: "global"}}, Members: members},
		}, metav1.CreateOptions{})
		return err
	})
	parallel(b, tenancyProjects*namespacesPerProject, func(i int) error {
		project := fmt.Sprintf("t%04d", i/namespacesPerProject)
		_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-ns%d", project, i%namespacesPerProject), Labels: map[string]string{authv1.NamespaceProjectLabel: project},
		}}, metav1.CreateOptions{})
		return err
	})
	parallel(b, extraRoleBindings, func(i int) error {
		namespace := fmt.Sprintf("t%04d-ns%d", i%tenancyProjects, i%namespacesPerProject)
		_, err := kube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("extra-%d", i)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:viewer"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: fmt.Sprintf("someone-%d", i)}},
		}, metav1.CreateOptions{})
		return err
	})
	parallel(b, tenancyProjects, func(i int) error {
		object := project("bench.example/v1", fmt.Sprintf("crd-%04d", i))
		if i < memberOf {
			object.SetLabels(map[string]string{"member": benchUser})
		}
		_, err := dyn.Resource(crdProjects).Create(ctx, object, metav1.CreateOptions{})
		return err
	})
	// Every namespace gets its project-admins' binding and its image
	// pullers' one; the projects the bench user audits also get the
	// auditors' one.
	namespaces := tenancyProjects * namespacesPerProject
	expected := 2*namespaces + memberOf*namespacesPerProject + extraRoleBindings
	waitForRoleBindings(ctx, b, kube, baseline+expected)
	loadTime := time.Since(start)
	// kube-controller-manager and archon's controllers keep working through
	// the new objects for a while; measure the platform at rest.
	settle := mustQuiet(b)
	loaded := countRoleBindings(ctx, b, kube) - baseline
	loadedRSS := settledRSS(b, plane.ArchonPID())

	member := userClient(b, plane, benchUser)
	memberDyn := dynamic.NewForConfigOrDie(userConfig(b, plane, benchUser))
	memberList, crdList := pairedLatencies(listSamples, func() error {
		list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) != memberOf {
			err = fmt.Errorf("member sees %d projects, want %d", len(list.Items), memberOf)
		}
		return err
	}, func() error {
		list, err := memberDyn.Resource(crdProjects).List(ctx, metav1.ListOptions{LabelSelector: "member=" + benchUser})
		if err == nil && len(list.Items) != memberOf {
			err = fmt.Errorf("CRD list has %d objects, want %d", len(list.Items), memberOf)
		}
		return err
	})
	if memberList.err != nil || crdList.err != nil {
		b.Fatal(memberList.err, crdList.err)
	}

	// Each measure adds the member to projects of its own, counted down
	// from the last.
	toWatch := watchVisibility(ctx, b, archon, member, tenancyProjects-1)
	toList := listVisibility(ctx, b, archon, member, tenancyProjects-1-membershipChanges)
	// The visibility measures leave archon's RBAC controller writing the
	// member's new RoleBindings for several seconds; imports measured
	// then would queue behind those writes.
	mustQuiet(b)
	importTimes := importLatency(ctx, b, kube, archon)

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nTenancy at scale: %d projects, %d namespaces, %d RoleBindings loaded (%d expected, %d in all; loaded in %s, %s)%s\n",
		tenancyProjects, namespaces, loaded, expected, baseline+loaded,
		loadTime.Round(time.Second), settle, scaleNote())
	fmt.Fprintln(w, "measure\tn\tp50\tp99\ttarget\tverdict\t")
	fmt.Fprintf(w, "list projects as a member of %d (aggregated)\t%d\t%s\t%s\t\t\t\n", memberOf, memberList.n(), memberList.p(50), memberList.p(99))
	fmt.Fprintf(w, "list %d labeled CRD objects of %d, same user\t%d\t%s\t%s\t\t\t\n", memberOf, tenancyProjects, crdList.n(), crdList.p(50), crdList.p(99))
	fmt.Fprintf(w, "ratio member list / CRD list (p50)\t%d\t%.2f\t\t%s\t\n", memberList.n(), ratioOf(memberList, crdList),
		v.ratio("member list / CRD list p50", ratioOf(memberList, crdList), memberListLimit, min(memberList.n(), crdList.n())))
	fmt.Fprintf(w, "membership change -> open watch\t%d\t%s\t%s\t%s\t\n", toWatch.n(), toWatch.p(50), toWatch.p(99),
		v.latency("membership change -> open watch", toWatch.p(99), visibilityLimit))
	fmt.Fprintf(w, "membership change -> list\t%d\t%s\t%s\t%s\t\n", toList.n(), toList.p(50), toList.p(99),
		v.latency("membership change -> list", toList.p(99), visibilityLimit))
	fmt.Fprintf(w, "import of a namespace with %d quotas\t%d\t%s\t%s\t%s\t\n", quotasPerImport, importTimes.n(), importTimes.p(50), importTimes.p(99),
		v.latency("import of a namespace", importTimes.p(50), importLimit))
	fmt.Fprintf(w, "\narchon RSS, median of %d at rest: %.1f MiB idle, %.1f MiB loaded (index and caches of %d projects)\n", rssReadings, idleRSS, loadedRSS, tenancyProjects)
	w.Flush()
	v.report(os.Stdout)

	b.ReportMetric(ratioOf(memberList, crdList), "member-list/crd-list-p50")
	b.ReportMetric(toWatch.p(99).ms(), "watch-visibility-p99-ms")
	b.ReportMetric(toList.p(99).ms(), "list-visibility-p99-ms")
	b.ReportMetric(importTimes.p(50).ms(), "import-p50-ms")
}

// grantCRDRead lets user get and list the benchmark's CRD Projects.
func grantCRDRead(ctx context.Context, b *testing.B, kube kubernetes.Interface, user string) {
	const name = "bench-crd-reader"
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{crdProjects.Group}, Resources: []string{crdProjects.Resource}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

func parallel(b *testing.B, n int, do func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, loadWorkers)
	for w := 0; w < loadWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += loadWorkers {
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// countRoleBindings counts the RoleBindings in all namespaces.
func countRoleBindings(ctx context.Context, b *testing.B, kube kubernetes.Interface) int {
	list, err := kube.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	have := len(list.Items)
	if list.RemainingItemCount != nil {
		have += int(*list.RemainingItemCount)
	}
	return have
}

// waitForRoleBindings waits until the cluster holds want RoleBindings.
func waitForRoleBindings(ctx context.Context, b *testing.B, kube kubernetes.Interface, want int) {
	deadline := time.Now().Add(15 * time.Minute)
	for {
		have := countRoleBindings(ctx, b, kube)
		if have >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d RoleBindings after 15 minutes, want %d: see the RBAC and pull secret controllers in archon's log", have, want)
		}
		time.Sleep(2 * time.Second)
	}
}

func userConfig(b *testing.B, plane *localplane.Plane, name string) *rest.Config {
	kubeconfig, err := plane.UserKubeconfig(name)
	if err != nil {
		b.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	config.QPS, config.Burst = -1, 0
	return config
}

func userClient(b *testing.B, plane *localplane.Plane, name string) archonclient.Interface {
	return archonclient.NewForConfigOrDie(userConfig(b, plane, name))
}

// addMember makes the bench user an auditor of project t<index>, and
// returns the project's name.
func addMember(ctx context.Context, b *testing.B, admin archonclient.Interface, index int) string {
	name := fmt.Sprintf("t%04d", index)
	patch := fmt.Sprintf(`{"spec":{"members":[{"name":"owner-%d","role":"project-admin"},{"name":%q,"role":"project-auditor"}]}}`, index, benchUser)
	if _, err := admin.AuthV1().Projects().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	return name
}

// watchVisibility adds the member to projects first, first-1, ... one at
// a time and times how long each takes from the patch to the member's
// open watch.
func watchVisibility(ctx context.Context, b *testing.B, admin, member archonclient.Interface, first int) timings {
	list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := member.AuthV1().Projects().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var t timings
	for i := 0; i < membershipChanges; i++ {
		start := time.Now()
		name := addMember(ctx, b, admin, first-i)
		for seen := false; !seen; {
			select {
			case event, ok := <-w.ResultChan():
				if !ok {
					b.Fatalf("the member's watch closed while waiting for %s", name)
				}
				p, isProject := event.Object.(*authv1.Project)
				seen = isProject && event.Type == watch.Added && p.Name == name
			case <-time.After(10 * time.Second):
				b.Fatalf("no ADDED event for %s within 10s", name)
			}
		}
		t.sorted = append(t.sorted, time.Since(start))
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
}

// listVisibility adds the member to projects first, first-1, ... one at a
// time and times how long each takes from the patch until the member's
// list shows it, with no watch open: lists are consistent reads, so the
// first list after the patch should already hold the project.
func listVisibility(ctx context.Context, b *testing.B, admin, member archonclient.Interface, first int) timings {
	var t timings
	for i := 0; i < membershipChanges; i++ {
		start := time.Now()
		name := addMember(ctx, b, admin, first-i)
		for deadline := start.Add(10 * time.Second); ; {
			list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			if len(list.Items) == 1 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the member's list did not show %s within 10s", name)
			}
			time.Sleep(time.Millisecond)
		}
		t.sorted = append(t.sorted, time.Since(start))
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
}

// importLatency times imports of namespaces holding 5 ResourceQuotas each.
func importLatency(ctx context.Context, b *testing.B, kube kubernetes.Interface, archon archonclient.Interface) timings {
	if _, err := archon.AuthV1().Projects().Create(ctx, &authv1.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "importer"},
		Spec: authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{{Name: "global", Quota: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("1000"),
		}}}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < importSamples; i++ {
		namespace := fmt.Sprintf("legacy-%d", i)
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for q := 0; q < quotasPerImport; q++ {
			if _, err := kube.CoreV1().ResourceQuotas(namespace).Create(ctx, &corev1.ResourceQuota{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("q%d", q)},
				Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
					corev1.ResourceRequestsCPU: *resource.NewQuantity(int64(q+1), resource.DecimalSI),
					corev1.ResourcePods:        *resource.NewQuantity(int64(10*(q+1)), resource.DecimalSI),
				}},
			}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	i := 0
	t := latencies(importSamples, func() error {
		imp, err := archon.AuthV1().NamespaceImports().Create(ctx, &authv1.NamespaceImport{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("import-%d", i)},
			Spec:       authv1.NamespaceImportSpec{Project: "importer", Cluster: "global", Namespace: fmt.Sprintf("legacy-%d", i)},
		}, metav1.CreateOptions{})
		i++
		if err == nil && imp.Status.Phase != authv1.NamespaceImportSucceeded {
			err = fmt.Errorf("import %s: %v", imp.Name, imp.Status.Conditions)
		}
		return err
	})
	if t.err != nil {
		b.Fatal(t.err)
	}
	return t
}
