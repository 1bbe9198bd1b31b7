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
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/acp-archon/archon/internal/charttest"
	"github.com/acp-archon/archon/internal/localplane"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

const (
	indexSamples     = 300
	uploadSamples    = 20
	exportComponents = 50
	exportSamples    = 30

	// indexLimit is the most archon's index.yaml may take over the same
	// bytes from a static file server, at p50, with helm's client.
	indexLimit = 2
	// exportLimit is the p50 within which an application of
	// exportComponents is exported as a chart.
	exportLimit = 300 * time.Millisecond
)

var indexVersions = scaled(1000, 10)

// BenchmarkCatalog measures a Local repository's index.yaml of many
// versions served by archon against the same bytes from a static Go file
// server, the upload of a 1 MiB chart, and exporting a large application.
func BenchmarkCatalog(b *testing.B) {
	ctx := context.Background()
	plane, _ := startPlane(b)
	config := unthrottled(plane)
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	archon, err := archonclient.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	const namespace = "bench-charts"
	readerToken := roleToken(ctx, b, kube, namespace, "reader", "acp:viewer")
	if _, err := archon.AppV1beta1().ChartRepos(namespace).Create(ctx, &appv1beta1.ChartRepo{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec:       appv1beta1.ChartRepoSpec{Type: appv1beta1.ChartRepoTypeLocal},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	upload := func(archive []byte) error {
		return archon.AppV1beta1().RESTClient().Post().Namespace(namespace).Resource("chartrepos").Name("bench").
			SubResource("charts").Body(archive).Do(ctx).Error()
	}
	for i := 0; i < indexVersions; i++ {
		if err := upload(charttest.Chart("app", fmt.Sprintf("1.%d.%d", i/100, i%100))); err != nil {
			b.Fatal(err)
		}
	}

	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	var uploads timings
	for i := 0; i < uploadSamples; i++ {
		archive := charttest.Chart("big", fmt.Sprintf("1.0.%d", i), charttest.Entry{Name: "files/blob", Data: big})
		uploads = uploads.add(timeIt(func() {
			if err := upload(archive); err != nil {
				b.Fatal(err)
			}
		}))
	}

	archonIndex, static, size := indexServing(b, plane, namespace, readerToken, false)
	archonIndex2, static2, _ := indexServing(b, plane, namespace, readerToken, true)
	export := exportLatency(ctx, b, config, archon, namespace)

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nCatalog: index.yaml of %d versions (%d KiB), %d requests a server, interleaved; %d uploads; %d exports of %d components%s\n",
		indexVersions, size>>10, indexSamples, uploadSamples, exportSamples, exportComponents, scaleNote())
	fmt.Fprintln(w, "measure\tn\tarchon p50\tstatic file server p50\tratio\ttarget\tverdict\t")
	fmt.Fprintf(w, "GET index.yaml (HTTP/1.1, as helm)\t%d\t%s\t%s\t%.2f\t%s\t\n", archonIndex.n(), archonIndex.p(50), static.p(50), ratioOf(archonIndex, static),
		v.ratio("index.yaml archon/static p50", ratioOf(archonIndex, static), indexLimit, min(archonIndex.n(), static.n())))
	fmt.Fprintf(w, "GET index.yaml (HTTP/2)\t%d\t%s\t%s\t%.2f\t\t\t\n", archonIndex2.n(), archonIndex2.p(50), static2.p(50), ratioOf(archonIndex2, static2))
	fmt.Fprintln(w, "\t\t\t\t\t\t\t")
	fmt.Fprintln(w, "measure\tn\tp50\tp99\t\ttarget\tverdict\t")
	fmt.Fprintf(w, "upload+validate 1 MiB chart\t%d\t%s\t%s\t\t\t\t\n", uploads.n(), uploads.p(50), uploads.p(99))
	fmt.Fprintf(w, "export %d components as a chart\t%d\t%s\t%s\t\t%s\t\n", exportComponents, export.n(), export.p(50), export.p(99),
		v.latency("export of an application as a chart", export.p(50), exportLimit))
	w.Flush()
	v.report(os.Stdout)

	b.ReportMetric(ratioOf(archonIndex, static), "index-archon/static")
	b.ReportMetric(uploads.p(50).ms(), "upload-1MiB-p50-ms")
	b.ReportMetric(export.p(50).ms(), "export-50-p50-ms")
}

// indexServing times helm's read of the index from archon (basic
// authentication with a token, authorized as get chartrepos) and of the
// same bytes from a static file server over TLS, with the client helm
// makes for a repository with a CA file: HTTP/1.1, no compression.
// With http2, both are read over HTTP/2 instead.
func indexServing(b *testing.B, plane *localplane.Plane, namespace, token string, http2 bool) (archon, static timings, size int) {
	roots := localTransport(b, plane).TLSClientConfig.RootCAs
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: http2}}
	get := func(client *http.Client, url string, basicAuth bool) ([]byte, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if basicAuth {
			req.SetBasicAuth("reader", token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return body, err
	}
	indexURL := plane.ArchonURL + "/chartrepos/" + namespace + "/bench/index.yaml"
	index, err := get(client, indexURL, true)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), index, 0o644); err != nil {
		b.Fatal(err)
	}
	server := httptest.NewUnstartedServer(http.FileServer(http.Dir(dir)))
	server.EnableHTTP2 = http2
	server.StartTLS()
	defer server.Close()
	roots.AddCert(server.Certificate())

	archon, static = pairedLatencies(indexSamples,
		func() error { _, err := get(client, indexURL, true); return err },
		func() error { _, err := get(client, server.URL+"/index.yaml", false); return err })
	if archon.err != nil || static.err != nil {
		b.Fatal(archon.err, static.err)
	}
	return archon, static, len(index)
}

var applications = schema.GroupVersionResource{Group: "app.k8s.io", Version: "v1beta1", Resource: "applications"}

// exportLatency times exports of an application of ConfigMaps as charts.
func exportLatency(ctx context.Context, b *testing.B, config *rest.Config, archon archonclient.Interface, namespace string) timings {
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	labels := map[string]string{"app.kubernetes.io/name": "big"}
	for i := 0; i < exportComponents; i++ {
		if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("component-%02d", i), Labels: labels},
			Data:       map[string]string{"config.yaml": "replicas: 3\nimage: big:1.0\n"},
		}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	application := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"metadata": map[string]any{"name": "big"},
		"spec": map[string]any{
			"selector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "big"}},
			"componentKinds": []any{map[string]any{"group": "", "kind": "ConfigMap"}},
		},
	}}
	if _, err := dyn.Resource(applications).Namespace(namespace).Create(ctx, application, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	export := &appv1beta1.ApplicationExport{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "big-"},
		Spec:       appv1beta1.ApplicationExportSpec{Application: "big", Format: appv1beta1.ExportHelmChart},
	}
	t := latencies(exportSamples, func() error {
		exp, err := archon.AppV1beta1().ApplicationExports(namespace).Create(ctx, export, metav1.CreateOptions{})
		if err == nil && len(exp.Status.Files) < exportComponents {
			err = fmt.Errorf("the chart holds %d files", len(exp.Status.Files))
		}
		return err
	})
	if t.err != nil {
		b.Fatal(t.err)
	}
	return t
}
