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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

const (
	appsNamespace = "bench-apps"
	// statusSamples is how many Deployments turn ready for the status
	// measure: at least 100, so that a p99 is one.
	statusSamples   = 100
	snapshotSamples = 50
	rollbackSamples = 20
	// bigComponents is the size of the application rolled back.
	bigComponents = 50

	// statusLimit is the p99 within which a Deployment turning ready
	// shows in its application's status.
	statusLimit = time.Second
	// snapshotLimit and rollbackLimit are the p50s of a snapshot of an
	// application of 4 components and of a rollback of one of 50.
	snapshotLimit = 300 * time.Millisecond
	rollbackLimit = 2 * time.Second
)

// benchApplications is how many applications of 4 components (a
// Deployment, a Service, two ConfigMaps) the plane holds.
var benchApplications = scaled(500, statusSamples)

// BenchmarkApplications loads 500 applications of 4 components and
// measures how soon a Deployment turning ready shows in its application's
// status, archon's memory with them, a snapshot of one, and a rollback of
// an application of 50 components.
func BenchmarkApplications(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)
	config := unthrottled(plane)
	kube := kubernetes.NewForConfigOrDie(config)
	dyn := dynamic.NewForConfigOrDie(config)
	archon := archonclient.NewForConfigOrDie(config)
	apps := dyn.Resource(application.Resource).Namespace(appsNamespace)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appsNamespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	mustQuiet(b)
	idleRSS := settledRSS(b, plane.ArchonPID())

	start := time.Now()
	parallel(b, benchApplications, func(i int) error {
		return createApplication(ctx, kube, apps, fmt.Sprintf("app-%03d", i), 1)
	})
	waitForRunning(ctx, b, apps, benchApplications)
	loadTime := time.Since(start)
	settle := mustQuiet(b)
	loadedRSS := settledRSS(b, plane.ArchonPID())

	toStatus := statusLatency(ctx, b, kube, apps)
	snapshots := latencies(snapshotSamples, func() error {
		_, err := archon.AppV1beta1().ApplicationSnapshots(appsNamespace).Create(ctx, &appv1beta1.ApplicationSnapshot{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"},
			Spec:       appv1beta1.ApplicationSnapshotSpec{Application: fmt.Sprintf("app-%03d", statusSamples)},
		}, metav1.CreateOptions{})
		return err
	})
	if snapshots.err != nil {
		b.Fatal(snapshots.err)
	}
	rollbacks := rollbackLatency(ctx, b, kube, dyn, archon)

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nApplications: %d of 4 components (a Deployment of 1 replica, a Service, 2 ConfigMaps), loaded and Running in %s, %s%s\n",
		benchApplications, loadTime.Round(time.Second), settle, scaleNote())
	fmt.Fprintln(w, "measure\tn\tp50\tp99\ttarget\tverdict\t")
	fmt.Fprintf(w, "Deployment ready -> application status\t%d\t%s\t%s\t%s\t\n", toStatus.n(), toStatus.p(50), toStatus.p(99),
		v.latency("Deployment ready -> application status", toStatus.p(99), statusLimit))
	fmt.Fprintf(w, "snapshot of 4 components\t%d\t%s\t%s\t%s\t\n", snapshots.n(), snapshots.p(50), snapshots.p(99),
		v.latency("snapshot of 4 components", snapshots.p(50), snapshotLimit))
	fmt.Fprintf(w, "rollback of %d components\t%d\t%s\t%s\t%s\t\n", bigComponents, rollbacks.n(), rollbacks.p(50), rollbacks.p(99),
		v.latency(fmt.Sprintf("rollback of %d components", bigComponents), rollbacks.p(50), rollbackLimit))
	fmt.Fprintln(w, "\t\t\t\t\t\t")
	fmt.Fprintf(w, "archon RSS, median of %d at rest\tMiB\t\t\t\t\t\n", rssReadings)
	fmt.Fprintf(w, "idle\t%.1f\t\t\t\t\t\n", idleRSS)
	fmt.Fprintf(w, "with the applications\t%.1f\t\t\t\t\t\n", loadedRSS)
	fmt.Fprintf(w, "archon CPU at rest with them\t%.3f cores (the plane's, over %s)\t\t\t\t\t\n", settle.cores, quietWindow)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	v.report(os.Stdout)
	b.ReportMetric(toStatus.p(99).ms(), "status-p99-ms")
	b.ReportMetric(snapshots.p(50).ms(), "snapshot-p50-ms")
	b.ReportMetric(rollbacks.p(50).ms(), "rollback-p50-ms")
	b.ReportMetric(loadedRSS, "loaded-MiB")
}

// createApplication creates an application and its 4 components.
func createApplication(ctx context.Context, kube kubernetes.Interface, apps dynamic.ResourceInterface, name string, replicas int32) error {
	labels := map[string]string{"app.kubernetes.io/name": name}
	pods := map[string]string{"bench-app": name}
	if _, err := kube.AppsV1().Deployments(appsNamespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: pods},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pods},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := kube.CoreV1().Services(appsNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: pods, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, suffix := range []string{"config", "settings"} {
		if _, err := kube.CoreV1().ConfigMaps(appsNamespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-" + suffix, Labels: labels}, Data: map[string]string{"key": "value"},
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": appsNamespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
			"componentKinds": []any{
				map[string]any{"group": "apps", "kind": "Deployment"},
				map[string]any{"group": "core", "kind": "Service"},
				map[string]any{"group": "core", "kind": "ConfigMap"},
			},
		},
	}}
	_, err := apps.Create(ctx, app, metav1.CreateOptions{})
	return err
}

// waitForRunning waits until n applications say Running.
func waitForRunning(ctx context.Context, b *testing.B, apps dynamic.ResourceInterface, n int) {
	var running int
	err := wait.PollUntilContextTimeout(ctx, time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := apps.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		running = 0
		for _, app := range list.Items {
			if phase, _, _ := unstructured.NestedString(app.Object, "status", "phase"); phase == application.PhaseRunning {
				running++
			}
		}
		return running >= n, nil
	})
	if err != nil {
		b.Fatalf("%d of %d applications Running: %v", running, n, err)
	}
}

// statusLatency stops the Deployments of the first applications, then
// starts them one at a time (0 to 2 replicas), and times from the watch
// event of the Deployment with 2 available to the watch event of its
// application saying Running again.
func statusLatency(ctx context.Context, b *testing.B, kube kubernetes.Interface, apps dynamic.ResourceInterface) timings {
	parallel(b, statusSamples, func(i int) error {
		_, err := kube.AppsV1().Deployments(appsNamespace).Patch(ctx, fmt.Sprintf("app-%03d", i), "application/merge-patch+json",
			[]byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{})
		return err
	})
	var stopped int
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := apps.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		stopped = 0
		for _, app := range list.Items {
			if phase, _, _ := unstructured.NestedString(app.Object, "status", "phase"); phase == application.PhaseStopped {
				stopped++
			}
		}
		return stopped >= statusSamples, nil
	})
	if err != nil {
		b.Fatalf("%d of %d applications Stopped: %v", stopped, statusSamples, err)
	}
	mustQuiet(b)

	deployments, err := kube.AppsV1().Deployments(appsNamespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer deployments.Stop()
	applications, err := apps.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer applications.Stop()

	var (
		mu      sync.Mutex
		readyAt = map[string]time.Time{}
		shownAt = map[string]time.Time{}
		started = map[string]bool{}
	)
	go func() {
		for event := range deployments.ResultChan() {
			d, ok := event.Object.(*appsv1.Deployment)
			if !ok || event.Type == watch.Deleted {
				continue
			}
			mu.Lock()
			if started[d.Name] && d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2 && d.Status.Replicas == 2 && readyAt[d.Name].IsZero() {
				readyAt[d.Name] = time.Now()
			}
			mu.Unlock()
		}
	}()
	go func() {
		for event := range applications.ResultChan() {
			app, ok := event.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			phase, _, _ := unstructured.NestedString(app.Object, "status", "phase")
			mu.Lock()
			if started[app.GetName()] && phase == application.PhaseRunning && shownAt[app.GetName()].IsZero() {
				shownAt[app.GetName()] = time.Now()
			}
			mu.Unlock()
		}
	}()

	var t timings
	for i := 0; i < statusSamples; i++ {
		name := fmt.Sprintf("app-%03d", i)
		mu.Lock()
		started[name] = true
		mu.Unlock()
		if _, err := kube.AppsV1().Deployments(appsNamespace).Patch(ctx, name, "application/merge-patch+json",
			[]byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return !readyAt[name].IsZero() && !shownAt[name].IsZero(), nil
		})
		mu.Lock()
		latency := shownAt[name].Sub(readyAt[name])
		mu.Unlock()
		if err != nil {
			b.Fatalf("application %s: Deployment ready at %v, status Running at %v", name, readyAt[name], shownAt[name])
		}
		// The two watches are two connections: the status may arrive
		// first.
		t = t.add(max(latency, 0))
	}
	return t
}

// rollbackLatency times rollbacks of an application of bigComponents
// ConfigMaps between two revisions that differ in each of them.
func rollbackLatency(ctx context.Context, b *testing.B, kube kubernetes.Interface, dyn dynamic.Interface, archon archonclient.Interface) timings {
	const name = "big"
	labels := map[string]string{"app.kubernetes.io/name": name}
	app := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": appsNamespace},
		"spec": map[string]any{
			"selector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}},
			"componentKinds": []any{map[string]any{"group": "core", "kind": "ConfigMap"}},
		},
	}}
	if _, err := dyn.Resource(application.Resource).Namespace(appsNamespace).Create(ctx, app, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	write := func(value string) {
		parallel(b, bigComponents, func(i int) error {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%02d", i), Labels: labels}, Data: map[string]string{"key": value}}
			if _, err := kube.CoreV1().ConfigMaps(appsNamespace).Update(ctx, cm, metav1.UpdateOptions{}); err == nil {
				return nil
			}
			_, err := kube.CoreV1().ConfigMaps(appsNamespace).Create(ctx, cm, metav1.CreateOptions{})
			return err
		})
	}
	snapshot := func() int64 {
		s, err := archon.AppV1beta1().ApplicationSnapshots(appsNamespace).Create(ctx, &appv1beta1.ApplicationSnapshot{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "big-"}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: name},
		}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return s.Status.Revision
	}
	write("a")
	snapshot()
	write("b")
	latest := snapshot()
	return latencies(rollbackSamples, func() error {
		// Back to the revision before the latest: the other state.
		rolled, err := archon.AppV1beta1().ApplicationRollbacks(appsNamespace).Create(ctx, &appv1beta1.ApplicationRollback{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "big-"},
			Spec:       appv1beta1.ApplicationRollbackSpec{Application: name, Revision: latest - 1},
		}, metav1.CreateOptions{})
		if err == nil {
			latest = rolled.Status.Revision
		}
		return err
	})
}
