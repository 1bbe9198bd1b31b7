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
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	"github.com/acp-archon/archon/pkg/uidrange"
)

const (
	// admissionLimit is the most archon's pod webhook may add to a pod's
	// create, at p50.
	admissionLimit = 5 * time.Millisecond
)

var (
	podSamples      = scaled(1000, 100)
	rangeNamespaces = scaled(5000, 200)
)

// benchPod is a pod held back from scheduling (a scheduling gate), with
// limits, so that the overcommit ratio has work: the measure is admission
// alone.
func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%04d", i)}, Spec: corev1.PodSpec{
		SchedulingGates: []corev1.PodSchedulingGate{{Name: "bench"}},
		Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}}}
}

// BenchmarkPodPolicies measures what archon's pod webhook adds to the
// create of a pod, side by side: pods of a namespace outside projects
// (no webhook) and of a project namespace with the three policies active
// (an overcommit ratio, a UID/GID range, a node isolation policy); and
// the UID/GID ranges of 5,000 namespaces: from the create of a labeled
// namespace to its range, and that no range is handed out twice.
func BenchmarkPodPolicies(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)
	config := unthrottled(plane)
	kube := kubernetes.NewForConfigOrDie(config)
	archon := archonclient.NewForConfigOrDie(config)
	if _, err := archon.AuthV1().Projects().Create(ctx, &authv1.Project{ObjectMeta: metav1.ObjectMeta{Name: "bench-pol"},
		Spec: authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{{Name: "global"}}}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "bench-plain"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bench-pol-dev", Labels: map[string]string{authv1.NamespaceProjectLabel: "bench-pol", uidrange.EnabledLabel: "true"}}},
	} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := archon.ResourceV1().NamespaceResourceRatios("bench-pol-dev").Create(ctx, &resourcev1.NamespaceResourceRatio{
		ObjectMeta: metav1.ObjectMeta{Name: "ratio"}, Spec: resourcev1.NamespaceResourceRatioSpec{CPU: ptr.To[int64](4), Memory: ptr.To[int64](2)},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := archon.ResourceV1().NodeGroups().Create(ctx, &resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: resourcev1.NodeGroupSpec{Projects: []string{"bench-pol"}, Nodes: []string{"kwok-node-1"}, Exclusive: ptr.To(false)}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// The policies are in force once a pod shows all three.
	deadline := time.Now().Add(time.Minute)
	for probe := 0; ; probe++ {
		pod := benchPod(100000 + probe)
		created, err := kube.CoreV1().Pods("bench-pol-dev").Create(ctx, pod, metav1.CreateOptions{})
		if err == nil && created.Spec.SecurityContext != nil && created.Spec.SecurityContext.RunAsUser != nil && created.Spec.Affinity != nil &&
			created.Spec.Containers[0].Resources.Requests.Cpu().MilliValue() == 250 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the policies are not in force: %v %+v", err, created)
		}
		time.Sleep(200 * time.Millisecond)
	}
	mustQuiet(b)
	var plain, policed timings
	for i := 0; i < podSamples; i++ {
		for _, side := range []struct {
			namespace string
			sample    *timings
		}{{"bench-plain", &plain}, {"bench-pol-dev", &policed}} {
			pod := benchPod(i)
			start := time.Now()
			if _, err := kube.CoreV1().Pods(side.namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			*side.sample = side.sample.add(time.Since(start))
		}
	}

	toRange, duplicates := rangeLatency(ctx, b, kube)

	v := &verdicts{b: b}
	overhead := float64(policed.p(50).value-plain.p(50).value) / float64(time.Millisecond)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nPod policies: %d pod creates a side, interleaved (held from scheduling); %d labeled namespaces%s\n",
		podSamples, rangeNamespaces, scaleNote())
	fmt.Fprintln(w, "measure\tn\tno webhook p50\tthree policies p50\toverhead\ttarget\tverdict\t")
	fmt.Fprintf(w, "create a pod\t%d\t%s\t%s\t%.2fms\t%s\t\n", podSamples, plain.p(50), policed.p(50), overhead,
		v.difference("pod admission overhead of the three policies (p50)", overhead, admissionLimit, podSamples))
	fmt.Fprintf(w, "create a pod, p99\t%d\t%s\t%s\t\t\t\t\n", podSamples, plain.p(99), policed.p(99))
	fmt.Fprintln(w, "\t\t\t\t\t\t\t")
	fmt.Fprintln(w, "measure\tn\tp50\tp99\t\ttarget\tverdict\t")
	fmt.Fprintf(w, "labeled namespace created -> its UID/GID range\t%d\t%s\t%s\t\t\t\t\n", toRange.n(), toRange.p(50), toRange.p(99))
	fmt.Fprintf(w, "ranges handed out twice\t%d\t%d\t\t\t%s\t\n", rangeNamespaces, duplicates,
		v.count("UID/GID ranges handed out twice", float64(duplicates), 0, rangeNamespaces))
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	v.report(os.Stdout)
	b.ReportMetric(overhead, "admission-overhead-p50-ms")
	b.ReportMetric(toRange.p(99).ms(), "uid-range-p99-ms")
}

// rangeLatency creates rangeNamespaces labeled namespaces and times each
// from its create to the watch event showing its range; it counts the
// ranges held by more than one namespace.
func rangeLatency(ctx context.Context, b *testing.B, kube kubernetes.Interface) (timings, int) {
	w, err := kube.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{LabelSelector: "bench-ranges=true"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	done := make(chan struct{})
	var latencies timings
	ranges := map[string]string{}
	go func() {
		defer close(done)
		for event := range w.ResultChan() {
			ns, ok := event.Object.(*corev1.Namespace)
			if !ok || event.Type == watch.Deleted {
				continue
			}
			value := ns.Annotations[uidrange.Annotation]
			mu.Lock()
			start, waiting := created[ns.Name]
			if value != "" && waiting {
				latencies = latencies.add(time.Since(start))
				ranges[ns.Name] = value
				delete(created, ns.Name)
			}
			finished := len(ranges) == rangeNamespaces
			mu.Unlock()
			if finished {
				return
			}
		}
	}()
	parallel(b, rangeNamespaces, func(i int) error {
		name := fmt.Sprintf("ranges-%05d", i)
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{"bench-ranges": "true", uidrange.EnabledLabel: "true"}}}, metav1.CreateOptions{})
		return err
	})
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d namespaces got a range within 10 minutes", len(ranges), rangeNamespaces)
	}
	seen := map[string]bool{}
	duplicates := 0
	for _, value := range ranges {
		if seen[value] {
			duplicates++
		}
		seen[value] = true
	}
	return latencies, duplicates
}
