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

// Package bench compares Projects served by archon through kube-apiserver
// aggregation with the same objects served by kube-apiserver as a
// CustomResourceDefinition, in one run on one machine, and reports archon's
// memory. Run it with "make bench".
package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/acp-archon/archon/internal/localplane"
)

// samples is the number of timed requests per operation and backend,
// workers issue requests concurrently for the throughput figures, listSize
// is how many objects each backend holds while lists are timed, and
// manyProjects is the population archon's memory is measured at.
var (
	samples      = scaled(1000, 100)
	workers      = 8
	listSize     = 100
	manyProjects = scaled(10000, 100)
)

const (
	// aggregationLimit is the most archon's p50 may be over the CRD's
	// for operations that cost aggregation alone.
	aggregationLimit = 1.5
	// idleRSSLimit is the most archon may hold, in MiB, idle after start.
	idleRSSLimit = 150
)

var (
	archonProjects = schema.GroupVersionResource{Group: "auth.alauda.io", Version: "v1", Resource: "projects"}
	crdProjects    = schema.GroupVersionResource{Group: "bench.example", Version: "v1", Resource: "projects"}
	crdResource    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// projectCRD mirrors the schema of auth.alauda.io/v1 Project.
const projectCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: projects.bench.example
spec:
  group: bench.example
  scope: Cluster
  names: {plural: projects, singular: project, kind: Project, listKind: ProjectList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              clusters:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    quota:
                      type: object
                      additionalProperties: {anyOf: [{type: integer}, {type: string}], x-kubernetes-int-or-string: true}
              members:
                type: array
                items:
                  type: object
                  required: [name, role]
                  properties:
                    kind: {type: string, enum: [User, Group, ServiceAccount], default: User}
                    name: {type: string}
                    namespace: {type: string}
                    role: {type: string, enum: [project-admin, project-auditor]}
          status:
            type: object
            properties:
              phase: {type: string}
`

type backend struct {
	name     string
	resource dynamic.ResourceInterface
	apiGroup string
}

// operation is what is timed against each backend; do issues request i,
// whose number makes the names it creates unique.
type operation struct {
	name string
	// target says whether the operation costs aggregation alone, and so is
	// held to aggregationLimit.
	target bool
	do     func(be backend, i int) error
}

// side is one backend's figures for one operation.
type side struct {
	latency  timings
	requests int
	elapsed  time.Duration
}

func (s side) throughput() float64 { return float64(s.requests) / s.elapsed.Seconds() }

// comparison is one operation measured on both backends in two rounds, one
// with archon first and one with the CRD first, so that neither gains
// from going second (a warmer kube-apiserver) or loses from the other's
// leftover work.
type comparison struct {
	operation operation
	// sides holds archon's figures and the CRD's, both rounds together.
	sides [2]side
	// byOrder holds archon's p50 over the CRD's in the round archon went
	// first and in the round the CRD went first.
	byOrder [2]float64
}

func (c comparison) ratio() float64 { return ratioOf(c.sides[0].latency, c.sides[1].latency) }

func BenchmarkProjectsAggregatedVsCRD(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)

	config := unthrottled(plane)
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	installCRD(ctx, b, client)
	mustQuiet(b)
	idleRSS := settledRSS(b, plane.ArchonPID())

	backends := [2]backend{
		{"archon", client.Resource(archonProjects), "auth.alauda.io/v1"},
		{"crd", client.Resource(crdProjects), "bench.example/v1"},
	}
	for _, be := range backends {
		for i := 0; i < listSize; i++ {
			create(ctx, b, be, fmt.Sprintf("listed-%03d", i))
		}
	}
	operations := []operation{
		// A project with a member also costs archon's RBAC controller a
		// ClusterRole and a ClusterRoleBinding: shown, but not a cost of
		// aggregation.
		{"create", false, func(be backend, i int) error {
			_, err := be.resource.Create(ctx, project(be.apiGroup, fmt.Sprintf("created-%05d", i)), metav1.CreateOptions{})
			return err
		}},
		// A project nobody is a member of yet needs no RBAC: this is the
		// cost of aggregation alone.
		{"create-memberless", true, func(be backend, i int) error {
			memberless := project(be.apiGroup, fmt.Sprintf("memberless-%05d", i))
			unstructured.RemoveNestedField(memberless.Object, "spec", "members")
			_, err := be.resource.Create(ctx, memberless, metav1.CreateOptions{})
			return err
		}},
		{"get", true, func(be backend, i int) error {
			_, err := be.resource.Get(ctx, fmt.Sprintf("listed-%03d", i%listSize), metav1.GetOptions{})
			return err
		}},
		{"list", true, func(be backend, _ int) error {
			list, err := be.resource.List(ctx, metav1.ListOptions{LabelSelector: "bench=listed"})
			if err == nil && len(list.Items) != listSize {
				err = fmt.Errorf("listed %d objects, want %d", len(list.Items), listSize)
			}
			return err
		}},
	}
	var comparisons []comparison
	for _, op := range operations {
		comparisons = append(comparisons, compare(b, op, backends))
	}

	archon := backends[0]
	parallel(b, manyProjects, func(i int) error {
		_, err := archon.resource.Create(ctx, project(archon.apiGroup, fmt.Sprintf("many-%05d", i)), metav1.CreateOptions{})
		return err
	})
	// Archon's RBAC controller writes two objects for each of those
	// projects long after the creates return; memory is read at rest.
	full := mustQuiet(b)
	fullRSS := settledRSS(b, plane.ArchonPID())

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nProjects through kube-apiserver: archon (aggregated) vs CRD, %d samples a backend in two rounds (archon first, then the CRD first), %d workers for throughput, lists of %d objects%s\n",
		samples, workers, listSize, scaleNote())
	fmt.Fprintln(w, "operation\tbackend\tn\tp50\tp99\treq/s\t")
	for _, c := range comparisons {
		for i, s := range c.sides {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%.0f\t\n", c.operation.name, backends[i].name, s.latency.n(), s.latency.p(50), s.latency.p(99), s.throughput())
		}
	}
	fmt.Fprintln(w, "\t\t\t\t\t\t")
	fmt.Fprintln(w, "operation\tp50 archon/crd\tarchon first\tcrd first\ttarget\tverdict\t")
	for _, c := range comparisons {
		cells := "\t"
		if c.operation.target {
			cells = v.ratio(c.operation.name+" p50 archon/crd", c.ratio(), aggregationLimit, c.sides[0].latency.n())
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%.2f\t%s\t\n", c.operation.name, c.ratio(), c.byOrder[0], c.byOrder[1], cells)
	}
	fmt.Fprintln(w, "\t\t\t\t\t\t")
	fmt.Fprintln(w, "archon RSS, median of 5 at rest\tMiB\t\t\ttarget\tverdict\t")
	fmt.Fprintf(w, "idle\t%.1f\t\t\t%s\t\n", idleRSS, v.memory("archon RSS idle", idleRSS, idleRSSLimit, rssReadings))
	fmt.Fprintf(w, "after %d more projects\t%.1f\t\t\t\t\t\n", manyProjects, fullRSS)
	fmt.Fprintf(w, "(after the projects, the plane %s)\n", full)
	w.Flush()
	v.report(os.Stdout)

	for _, c := range comparisons {
		b.ReportMetric(c.ratio(), c.operation.name+"-p50-archon/crd")
	}
	b.ReportMetric(idleRSS, "idle-MiB")
	b.ReportMetric(fullRSS, "many-projects-MiB")
}

// compare measures op on both backends in two rounds, archon first and
// then the CRD first, each backend's turn starting with the plane at rest.
func compare(b *testing.B, op operation, backends [2]backend) comparison {
	c := comparison{operation: op}
	half := samples / 2
	for round, order := range [2][2]int{{0, 1}, {1, 0}} {
		var p50 [2]time.Duration
		for _, i := range order {
			mustQuiet(b)
			s := measure(b, op, backends[i], round*2*half, half)
			p50[i] = s.latency.p(50).value
			c.sides[i].latency.sorted = append(c.sides[i].latency.sorted, s.latency.sorted...)
			c.sides[i].requests += s.requests
			c.sides[i].elapsed += s.elapsed
		}
		c.byOrder[round] = float64(p50[0]) / float64(p50[1])
	}
	for i := range c.sides {
		sorted := c.sides[i].latency.sorted
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	}
	return c
}

// startPlane starts a local control plane of the binaries "make bench"
// builds, stopped when the benchmark ends; it returns the plane and where
// the binaries are.
func startPlane(b *testing.B) (*localplane.Plane, string) {
	binDir := os.Getenv("ARCHON_BIN_DIR")
	if binDir == "" {
		b.Fatal("ARCHON_BIN_DIR is not set: run 'make bench'")
	}
	plane, err := localplane.Start(context.Background(), localplane.Options{Dir: b.TempDir(), BinDir: binDir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(plane.Stop)
	return plane, binDir
}

// unthrottled is the plane's admin configuration without client-side
// throttling: the benchmarks measure the servers.
func unthrottled(plane *localplane.Plane) *rest.Config {
	config := plane.AdminConfig()
	config.QPS, config.Burst = -1, 0
	return config
}

func installCRD(ctx context.Context, b *testing.B, client dynamic.Interface) {
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(projectCRD), &crd.Object); err != nil {
		b.Fatal(err)
	}
	if _, err := client.Resource(crdResource).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.Resource(crdProjects).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		b.Fatalf("CRD not served: %v", err)
	}
}

func project(apiVersion, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       "Project",
		"metadata": map[string]any{
			"name":        name,
			"labels":      map[string]any{"bench": strings.SplitN(name, "-", 2)[0]},
			"annotations": map[string]any{"cpaas.io/display-name": "Benchmark " + name},
		},
		"spec": map[string]any{
			"clusters": []any{map[string]any{"name": "global", "quota": map[string]any{"requests.cpu": "4", "requests.memory": "8Gi"}}},
			"members":  []any{map[string]any{"kind": "User", "name": "alice", "role": "project-admin"}},
		},
	}}
}

func create(ctx context.Context, b *testing.B, be backend, name string) {
	if _, err := be.resource.Create(ctx, project(be.apiGroup, name), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

// measure times n sequential requests for latency, then n more spread
// over workers for throughput; their numbers start at first.
func measure(b *testing.B, op operation, be backend, first, n int) side {
	var latency timings
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := op.do(be, first+i); err != nil {
			b.Fatalf("%s %s: %v", be.name, op.name, err)
		}
		latency.sorted = append(latency.sorted, time.Since(start))
	}
	sort.Slice(latency.sorted, func(i, j int) bool { return latency.sorted[i] < latency.sorted[j] })

	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := op.do(be, first+n+i); err != nil {
					once.Do(func() { failed = err })
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("%s %s under load: %v", be.name, op.name, failed)
	}
	return side{latency: latency, requests: n, elapsed: time.Since(start)}
}
