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
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/acp-archon/archon/internal/charttest"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	"github.com/acp-archon/archon/pkg/templateapp"
)

const (
	templatesNamespace = "bench-templates"
	installSamples     = 20
	// installLimit is the p50 within which a template application of a
	// 20-object chart from a Local repository is Synced.
	installLimit = 2 * time.Second
	// syncedTimeout bounds the wait for one application to be Synced.
	syncedTimeout = 2 * time.Minute
)

// benchTemplates is how many template applications the restart measure
// holds.
var benchTemplates = scaled(100, 20)

// twentyObjects is a chart of 20 objects: 2 Deployments, 4 Services, 8
// ConfigMaps, 4 Secrets and 2 ServiceAccounts.
func twentyObjects(version string) []byte {
	objects := `{{- range $i := until 2 }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ $.Release.Name }}-{{ $i }}}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ $.Release.Name }}-{{ $i }}}}
  template:
    metadata: {labels: {app: {{ $.Release.Name }}-{{ $i }}}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
{{- end }}
{{- range $i := until 4 }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ $.Release.Name }}-{{ $i }}}
spec: {selector: {app: {{ $.Release.Name }}-0}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Secret
metadata: {name: {{ $.Release.Name }}-{{ $i }}}
stringData: {password: {{ $.Values.greeting | quote }}}
{{- end }}
{{- range $i := until 7 }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ $.Release.Name }}-config-{{ $i }}}
data: {greeting: {{ $.Values.greeting | quote }}}
{{- end }}
{{- range $i := until 2 }}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: {{ $.Release.Name }}-{{ $i }}}
{{- end }}
`
	return charttest.Chart("twenty", version, charttest.Entry{Name: "templates/objects.yaml", Data: []byte(objects)})
}

// BenchmarkTemplateApplications measures installing a 20-object chart as
// a template application until it is Synced, side by side with helm
// install --wait=false of the same chart by the same developer, then
// restarts archon with 100 template applications and counts the helm
// revisions it made (none is the target) and its memory with them.
func BenchmarkTemplateApplications(b *testing.B) {
	ctx := context.Background()
	plane, binDir := startPlane(b)
	config := unthrottled(plane)
	kube := kubernetes.NewForConfigOrDie(config)
	archon := archonclient.NewForConfigOrDie(config)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: templatesNamespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(templatesNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "developer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "acp:developer"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "bench-developer"}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := archon.AppV1beta1().ChartRepos(templatesNamespace).Create(ctx, &appv1beta1.ChartRepo{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec:       appv1beta1.ChartRepoSpec{Type: appv1beta1.ChartRepoTypeLocal},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	archive := twentyObjects("0.1.0")
	if err := archon.AppV1beta1().RESTClient().Post().Namespace(templatesNamespace).Resource("chartrepos").Name("bench").
		SubResource("charts").Body(archive).Do(ctx).Error(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	chartFile := filepath.Join(dir, "twenty-0.1.0.tgz")
	if err := os.WriteFile(chartFile, archive, 0o644); err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := plane.UserKubeconfig("bench-developer")
	if err != nil {
		b.Fatal(err)
	}
	developer, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	developer.QPS, developer.Burst = -1, 0
	apps := dynamic.NewForConfigOrDie(developer).Resource(application.Resource).Namespace(templatesNamespace)
	helmCLI := func(args ...string) error {
		cmd := exec.Command(filepath.Join(binDir, "helm"), append(args, "--kubeconfig", kubeconfig, "-n", templatesNamespace)...)
		cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
			"HELM_DATA_HOME="+filepath.Join(dir, "data"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("helm %v: %w: %s", args, err, stderr.String())
		}
		return nil
	}
	mustQuiet(b)
	idleRSS := settledRSS(b, plane.ArchonPID())
	// One of each first: caches warm on both sides.
	if err := installAndWait(ctx, apps, "warm"); err != nil {
		b.Fatal(err)
	}
	if err := helmCLI("install", "warm-helm", chartFile, "--wait=false"); err != nil {
		b.Fatal(err)
	}
	mustQuiet(b)
	var viaArchon, viaHelm timings
	for i := 0; i < installSamples; i++ {
		var err error
		viaArchon = viaArchon.add(timeIt(func() { err = installAndWait(ctx, apps, fmt.Sprintf("archon-%02d", i)) }))
		if err != nil {
			b.Fatal(err)
		}
		viaHelm = viaHelm.add(timeIt(func() { err = helmCLI("install", fmt.Sprintf("helm-%02d", i), chartFile, "--wait=false") }))
		if err != nil {
			b.Fatal(err)
		}
	}

	// The restart: benchTemplates applications in all (the ones above
	// count), Synced, then archon stops and starts.
	existing := installSamples + 1
	parallel(b, benchTemplates-existing, func(i int) error {
		return installAndWait(ctx, apps, fmt.Sprintf("many-%03d", i))
	})
	settle := mustQuiet(b)
	loadedRSS := settledRSS(b, plane.ArchonPID())
	revisionsBefore := helmRevisions(ctx, b, kube)
	plane.StopArchon()
	start := time.Now()
	if err := plane.StartArchon(ctx); err != nil {
		b.Fatal(err)
	}
	// The queue takes the applications it finds at its start first: once
	// one created now is Synced, it went through all of them.
	if err := installAndWait(ctx, apps, "sentinel"); err != nil {
		b.Fatal(err)
	}
	throughAll := time.Since(start)
	mustQuiet(b)
	newRevisions := helmRevisions(ctx, b, kube) - revisionsBefore - 1 // the sentinel's
	restartedRSS := settledRSS(b, plane.ArchonPID())

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nTemplate applications: a chart of 20 objects from a Local repository, installed by a developer, %d of each, interleaved%s\n",
		installSamples, scaleNote())
	fmt.Fprintln(w, "measure\tn\tarchon p50\thelm install p50\tarchon p99\ttarget\tverdict\t")
	fmt.Fprintf(w, "create -> Synced / helm install --wait=false\t%d\t%s\t%s\t%s\t%s\t\n", viaArchon.n(), viaArchon.p(50), viaHelm.p(50), viaArchon.p(99),
		v.latency("template application install until Synced", viaArchon.p(50), installLimit))
	fmt.Fprintln(w, "\t\t\t\t\t\t\t")
	fmt.Fprintf(w, "%d template applications, archon restarted\t\t\t\t\t\t\t\n", benchTemplates)
	fmt.Fprintf(w, "restart -> all gone through\t1\t%s\t\t\t\t\t\n", throughAll.Round(10*time.Millisecond))
	fmt.Fprintf(w, "new helm revisions after the restart\t%d\t%d\t\t\t%s\t\n", benchTemplates, newRevisions,
		v.count("helm revisions made by a restart", float64(newRevisions), 0, benchTemplates))
	fmt.Fprintf(w, "archon RSS idle, median of %d at rest\tMiB\t%.1f\t\t\t\t\t\n", rssReadings, idleRSS)
	fmt.Fprintf(w, "archon RSS with them\tMiB\t%.1f\t\t\t\t\t\n", loadedRSS)
	fmt.Fprintf(w, "archon RSS after the restart\tMiB\t%.1f\t\t\t\t\t\n", restartedRSS)
	fmt.Fprintf(w, "archon CPU at rest with them\t%.3f cores (the plane's, over %s)\t\t\t\t\t\t\n", settle.cores, quietWindow)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	v.report(os.Stdout)
	b.ReportMetric(viaArchon.p(50).ms(), "install-p50-ms")
	b.ReportMetric(viaHelm.p(50).ms(), "helm-install-p50-ms")
	b.ReportMetric(float64(newRevisions), "restart-revisions")
	b.ReportMetric(loadedRSS, "loaded-MiB")
}

// installAndWait creates a template application of the twenty chart and
// waits until it is Synced.
func installAndWait(ctx context.Context, apps dynamic.ResourceInterface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, syncedTimeout)
	defer cancel()
	w, err := apps.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return err
	}
	defer w.Stop()
	app := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "app.k8s.io/v1beta1", "kind": "Application"}}
	app.SetName(name)
	app.SetAnnotations(map[string]string{templateapp.SourceAnnotation: "bench/twenty", templateapp.VersionAnnotation: "0.1.0",
		templateapp.ValuesAnnotation: `{"greeting":"hello"}`})
	if _, err := apps.Create(ctx, app, metav1.CreateOptions{}); err != nil {
		return err
	}
	for event := range w.ResultChan() {
		if event.Type == watch.Error {
			return fmt.Errorf("watching %s: %v", name, event.Object)
		}
		obj, ok := event.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		conditions := application.ConditionsOf(obj)
		if meta.IsStatusConditionTrue(conditions, templateapp.ConditionSynced) {
			return nil
		}
		for _, stage := range templateapp.Conditions {
			if c := meta.FindStatusCondition(conditions, stage); c != nil && c.Status == metav1.ConditionFalse {
				return fmt.Errorf("application %s: %s=False %s: %s", name, c.Type, c.Reason, c.Message)
			}
		}
	}
	return fmt.Errorf("application %s not Synced within %s", name, syncedTimeout)
}

// helmRevisions counts helm's release records in the namespace.
func helmRevisions(ctx context.Context, b *testing.B, kube kubernetes.Interface) int {
	list, err := kube.CoreV1().Secrets(templatesNamespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		b.Fatal(err)
	}
	return len(list.Items)
}
