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
	"strconv"
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

const (
	// samples is the number of timed requests per operation and backend.
	samples = 1000
	// workers issue requests concurrently for the throughput figures.
	workers = 8
	// listSize is how many objects each backend holds while lists are timed.
	listSize = 100
	// manyProjects is the population archon's memory is measured at.
	manyProjects = 10000
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

type result struct {
	operation, backend string
	p50, p99           time.Duration
	throughput         float64
}

func BenchmarkProjectsAggregatedVsCRD(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)

	config := unthrottled(plane)
	client, err := dynamic.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	installCRD(ctx, b, client)

	idleRSS := rssMiB(b, plane.ArchonPID())
	backends := []backend{
		{"archon", client.Resource(archonProjects), "auth.alauda.io/v1"},
		{"crd", client.Resource(crdProjects), "bench.example/v1"},
	}
	var results []result
	for _, be := range backends {
		for i := 0; i < listSize; i++ {
			create(ctx, b, be, fmt.Sprintf("listed-%03d", i))
		}
		waitForQuiet(b)
		results = append(results, measure(b, "create", be, func(i int) error {
			_, err := be.resource.Create(ctx, project(be.apiGroup, fmt.Sprintf("created-%05d", i)), metav1.CreateOptions{})
			return err
		}))
		// Archon's controllers answer each new project with RBAC objects;
		// the next measures start once they are done.
		waitForQuiet(b)
		// A project nobody is a member of yet needs no RBAC: this is the
		// cost of aggregation alone.
		results = append(results, measure(b, "create-memberless", be, func(i int) error {
			memberless := project(be.apiGroup, fmt.Sprintf("memberless-%05d", i))
			unstructured.RemoveNestedField(memberless.Object, "spec", "members")
			_, err := be.resource.Create(ctx, memberless, metav1.CreateOptions{})
			return err
		}))
		waitForQuiet(b)
		results = append(results,
			measure(b, "get", be, func(i int) error {
				_, err := be.resource.Get(ctx, fmt.Sprintf("listed-%03d", i%listSize), metav1.GetOptions{})
				return err
			}),
			measure(b, "list", be, func(int) error {
				_, err := be.resource.List(ctx, metav1.ListOptions{LabelSelector: "bench=listed"})
				return err
			}),
		)
	}

	archon := backends[0]
	var fill sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		fill.Add(1)
		go func(w int) {
			defer fill.Done()
			for i := w; i < manyProjects; i += workers {
				if _, err := archon.resource.Create(ctx, project(archon.apiGroup, fmt.Sprintf("many-%05d", i)), metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	fill.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	fullRSS := rssMiB(b, plane.ArchonPID())

	report(results, idleRSS, fullRSS)
	for _, op := range []string{"create", "create-memberless", "get", "list"} {
		b.ReportMetric(ratio(results, op), op+"-p50-archon/crd")
	}
	b.ReportMetric(idleRSS, "idle-MiB")
	b.ReportMetric(fullRSS, "10k-projects-MiB")
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

// measure times samples sequential requests for latency, then the same
// number spread over workers for throughput.
func measure(b *testing.B, operation string, be backend, do func(i int) error) result {
	latencies := make([]time.Duration, samples)
	for i := range latencies {
		start := time.Now()
		if err := do(i); err != nil {
			b.Fatalf("%s %s: %v", be.name, operation, err)
		}
		latencies[i] = time.Since(start)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })

	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < samples; i += workers {
				if err := do(samples + i); err != nil {
					once.Do(func() { failed = err })
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if failed != nil {
		b.Fatalf("%s %s under load: %v", be.name, operation, failed)
	}
	return result{
		operation:  operation,
		backend:    be.name,
		p50:        latencies[samples/2],
		p99:        latencies[samples*99/100],
		throughput: float64(samples) / time.Since(start).Seconds(),
	}
}

func ratio(results []result, operation string) float64 {
	p50 := map[string]time.Duration{}
	for _, r := range results {
		if r.operation == operation {
			p50[r.backend] = r.p50
		}
	}
	return float64(p50["archon"]) / float64(p50["crd"])
}

func report(results []result, idleRSS, fullRSS float64) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nProjects through kube-apiserver: archon (aggregated) vs CRD, %d samples, %d workers for throughput, lists of %d objects\n", samples, workers, listSize)
	fmt.Fprintln(w, "operation\tbackend\tp50\tp99\treq/s\tp50 archon/crd\t")
	for _, r := range results {
		ratioCell := ""
		if r.backend == "archon" {
			ratioCell = strconv.FormatFloat(ratio(results, r.operation), 'f', 2, 64)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.0f\t%s\t\n", r.operation, r.backend,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.throughput, ratioCell)
	}
	fmt.Fprintf(w, "\narchon RSS idle: %.1f MiB; after %d more projects: %.1f MiB\n", idleRSS, manyProjects, fullRSS)
	w.Flush()
}

func rssMiB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kib, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
