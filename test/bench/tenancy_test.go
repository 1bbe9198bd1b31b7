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
	"strconv"
	"strings"
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
	tenancyProjects      = 5000
	namespacesPerProject = 4
	extraRoleBindings    = 30000 // on top of the controllers', to reach about 70,000
	memberOf             = 50
	listSamples          = 200
	membershipChanges    = 50
	importSamples        = 20
	quotasPerImport      = 5
	benchUser            = "bench-user"
	loadWorkers          = 8
)

// BenchmarkTenancy loads a platform of 5,000 projects, 20,000 namespaces
// and about 70,000 RoleBindings (20,000 of them image pullers') and
// measures what members feel: listing their 50
// projects against listing 50 labeled CRD objects, how fast a membership
// change shows in a list and in an open watch, archon's memory, and the
// latency of importing a namespace with 5 ResourceQuotas.
func BenchmarkTenancy(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)

	config := unthrottled(plane)
	kube := kubernetes.NewForConfigOrDie(config)
	archon := archonclient.NewForConfigOrDie(config)
	dyn := dynamic.NewForConfigOrDie(config)
	installCRD(ctx, b, dyn)
	idleRSS := rssMiB(b, plane.ArchonPID())

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
	roleBindings := 2*namespaces + memberOf*namespacesPerProject + extraRoleBindings
	waitForRoleBindings(ctx, b, kube, roleBindings)
	loadTime := time.Since(start)
	// kube-controller-manager and archon's controllers keep working through
	// the new objects for a while; measure the platform at rest.
	settle := waitForQuiet(b)
	loadedRSS := rssMiB(b, plane.ArchonPID())

	member := userClient(b, plane, benchUser)
	memberList := latencies(listSamples, func() error {
		list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) != memberOf {
			err = fmt.Errorf("member sees %d projects, want %d", len(list.Items), memberOf)
		}
		return err
	})
	crdList := latencies(listSamples, func() error {
		list, err := dyn.Resource(crdProjects).List(ctx, metav1.ListOptions{LabelSelector: "member=" + benchUser})
		if err == nil && len(list.Items) != memberOf {
			err = fmt.Errorf("CRD list has %d objects, want %d", len(list.Items), memberOf)
		}
		return err
	})
	if memberList.err != nil || crdList.err != nil {
		b.Fatal(memberList.err, crdList.err)
	}

	toWatch, toList := membershipVisibility(ctx, b, archon, member)
	importTimes := importLatency(ctx, b, kube, archon)

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nTenancy at scale: %d projects, %d namespaces, %d RoleBindings (loaded in %s, settled in %s)\n",
		tenancyProjects, tenancyProjects*namespacesPerProject, roleBindings,
		loadTime.Round(time.Second), settle.Round(time.Second))
	fmt.Fprintln(w, "measure\tp50\tp99\ttarget\t")
	fmt.Fprintf(w, "list projects as a member of %d (aggregated)\t%s\t%s\t\t\n", memberOf, memberList.p(50), memberList.p(99))
	fmt.Fprintf(w, "list %d labeled CRD objects of %d\t%s\t%s\t\t\n", memberOf, tenancyProjects, crdList.p(50), crdList.p(99))
	fmt.Fprintf(w, "ratio member list / CRD list\t%.2f\t\t<= 2 at p50\t\n", float64(memberList.p(50))/float64(crdList.p(50)))
	fmt.Fprintf(w, "membership change -> open watch\t%s\t%s\tp99 <= 1s\t\n", toWatch.p(50), toWatch.p(99))
	fmt.Fprintf(w, "membership change -> list\t%s\t%s\tp99 <= 1s\t\n", toList.p(50), toList.p(99))
	fmt.Fprintf(w, "import of a namespace with %d quotas\t%s\t%s\tp50 <= 200ms\t\n", quotasPerImport, importTimes.p(50), importTimes.p(99))
	fmt.Fprintf(w, "\narchon RSS: %.1f MiB idle, %.1f MiB loaded (index and caches of %d projects)\n", idleRSS, loadedRSS, tenancyProjects)
	w.Flush()
	b.ReportMetric(float64(memberList.p(50))/float64(crdList.p(50)), "member-list/crd-list-p50")
	b.ReportMetric(float64(toWatch.p(99))/float64(time.Millisecond), "watch-visibility-p99-ms")
	b.ReportMetric(float64(importTimes.p(50))/float64(time.Millisecond), "import-p50-ms")
}

type timings struct {
	sorted []time.Duration
	err    error
}

func (t timings) p(percentile int) time.Duration {
	if len(t.sorted) == 0 {
		return 0
	}
	return t.sorted[(len(t.sorted)-1)*percentile/100].Round(10 * time.Microsecond)
}

func latencies(n int, do func() error) timings {
	var t timings
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := do(); err != nil {
			t.err = err
			return t
		}
		t.sorted = append(t.sorted, time.Since(start))
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
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

func waitForRoleBindings(ctx context.Context, b *testing.B, kube kubernetes.Interface, want int) {
	deadline := time.Now().Add(15 * time.Minute)
	for {
		list, err := kube.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		have := len(list.Items)
		if list.RemainingItemCount != nil {
			have += int(*list.RemainingItemCount)
		}
		if have >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d RoleBindings after 15 minutes, want %d", have, want)
		}
		time.Sleep(2 * time.Second)
	}
}

// waitForQuiet waits until the machine is mostly idle over five seconds,
// at most ten minutes, and says how long that took.
func waitForQuiet(b *testing.B) time.Duration {
	start := time.Now()
	for time.Since(start) < 10*time.Minute {
		busy1, total1 := cpuTimes(b)
		time.Sleep(5 * time.Second)
		busy2, total2 := cpuTimes(b)
		if float64(busy2-busy1) < 0.25*float64(total2-total1) {
			break
		}
	}
	return time.Since(start)
}

// cpuTimes reads the machine's busy and total CPU time from /proc/stat.
func cpuTimes(b *testing.B) (busy, total uint64) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(strings.SplitN(string(stat), "\n", 2)[0])[1:]
	for i, f := range fields {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total
}

func userClient(b *testing.B, plane *localplane.Plane, name string) archonclient.Interface {
	kubeconfig, err := plane.UserKubeconfig(name)
	if err != nil {
		b.Fatal(err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	config.QPS, config.Burst = -1, 0
	return archonclient.NewForConfigOrDie(rest.CopyConfig(config))
}

// membershipVisibility adds the member to projects one at a time and times
// how long each takes to appear in the member's open watch and list.
func membershipVisibility(ctx context.Context, b *testing.B, admin, member archonclient.Interface) (toWatch, toList timings) {
	list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := member.AuthV1().Projects().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	for i := 0; i < membershipChanges; i++ {
		name := fmt.Sprintf("t%04d", tenancyProjects-1-i)
		patch := fmt.Sprintf(`{"spec":{"members":[{"name":"owner-%d","role":"project-admin"},{"name":%q,"role":"project-auditor"}]}}`, tenancyProjects-1-i, benchUser)
		start := time.Now()
		if _, err := admin.AuthV1().Projects().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		for seen := false; !seen; {
			select {
			case event := <-w.ResultChan():
				p, ok := event.Object.(*authv1.Project)
				seen = ok && event.Type == watch.Added && p.Name == name
			case <-time.After(10 * time.Second):
				b.Fatalf("no ADDED event for %s within 10s", name)
			}
		}
		toWatch.sorted = append(toWatch.sorted, time.Since(start))
		for {
			list, err := member.AuthV1().Projects().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			if len(list.Items) == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		toList.sorted = append(toList.sorted, time.Since(start))
	}
	sort.Slice(toWatch.sorted, func(i, j int) bool { return toWatch.sorted[i] < toWatch.sorted[j] })
	sort.Slice(toList.sorted, func(i, j int) bool { return toList.sorted[i] < toList.sorted[j] })
	return toWatch, toList
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
