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
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/acp-archon/archon/internal/charttest"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
)

// helm runs the helm CLI built in hack/tools with its own configuration
// and cache in home.
func helm(t *testing.T, home string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("ARCHON_BIN_DIR"), "helm"), args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// uploadChart posts a chart archive to the charts subresource of the
// repository named team in namespace as the user, returning the HTTP
// status.
func uploadChart(t *testing.T, u registryUser, namespace string, archive []byte, overwrite bool) (int, error) {
	t.Helper()
	config := adminConfig(t)
	config.TLSClientConfig.CertData, config.TLSClientConfig.KeyData, config.BearerToken = nil, nil, u.token
	request := archonClient(t, config).AppV1beta1().RESTClient().Post().
		Namespace(namespace).Resource("chartrepos").Name("team").SubResource("charts").
		SetHeader("Content-Type", "application/gzip").Body(archive)
	if overwrite {
		request = request.Param("overwrite", "true")
	}
	var status int
	err := request.Do(testContext(t)).StatusCode(&status).Error()
	return status, err
}

func TestLocalChartRepositoryServesHelm(t *testing.T) {
	const ns = "charts-a"
	createNamespaces(t, ns)
	maintainer := serviceAccountUser(t, ns, "maintainer")
	reader := serviceAccountUser(t, ns, "reader")
	outsider := serviceAccountUser(t, ns, "outsider")
	bindRole(t, ns, "maintainer", "acp:namespace-admin", ns, "maintainer")
	bindRole(t, ns, "reader", "acp:viewer", ns, "reader")
	adminKubectl(t, `
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata: {name: team, namespace: charts-a}
spec: {type: Local}
`, "apply", "-f", "-")

	// Upload as documented: kubectl create --raw with the archive.
	dir := t.TempDir()
	archive := filepath.Join(dir, "web-0.1.0.tgz")
	if err := os.WriteFile(archive, charttest.Chart("web", "0.1.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := kubectl(t, tokenKubeconfig(t, maintainer), "", "create", "--raw", "/apis/app.alauda.io/v1beta1/namespaces/charts-a/chartrepos/team/charts", "-f", archive)
	if err != nil || !strings.Contains(out, `"web.team"`) {
		t.Fatalf("upload: %v\n%s", err, out)
	}
	if status, err := uploadChart(t, maintainer, ns, charttest.Chart("web", "0.2.0"), false); status != http.StatusCreated {
		t.Fatalf("second version: %d %v", status, err)
	}
	if status, err := uploadChart(t, reader, ns, charttest.Chart("web", "0.3.0"), false); !apierrors.IsForbidden(err) {
		t.Errorf("a viewer uploads: %d %v", status, err)
	}
	changed := charttest.Chart("web", "0.2.0", charttest.Entry{Name: "README.md", Data: []byte("changed")})
	if status, err := uploadChart(t, maintainer, ns, changed, false); status != http.StatusConflict {
		t.Errorf("other bytes as the same version: %d %v, want 409", status, err)
	}
	if status, err := uploadChart(t, maintainer, ns, charttest.Chart("web", "0.2.0"), false); status != http.StatusCreated {
		t.Errorf("the same bytes again: %d %v, want success", status, err)
	}
	if status, err := uploadChart(t, maintainer, ns, changed, true); status != http.StatusCreated {
		t.Errorf("the same version with overwrite: %d %v", status, err)
	}

	t.Run("bad archives get a clear 4xx", func(t *testing.T) {
		random := make([]byte, 21<<20)
		_, _ = rand.Read(random)
		chartYAML := charttest.Entry{Name: "bad/Chart.yaml", Data: charttest.ChartYAML("bad", "1.0.0", "1")}
		for _, tc := range []struct {
			name    string
			archive []byte
			status  int
			mention string
		}{
			{"not gzip", []byte("just text"), http.StatusBadRequest, "gzipped tar"},
			{"no Chart.yaml", charttest.Archive(charttest.Entry{Name: "bad/values.yaml", Data: []byte("a: 1\n")}), http.StatusBadRequest, "Chart.yaml"},
			{"bad semver", charttest.Archive(charttest.Entry{Name: "bad/Chart.yaml", Data: charttest.ChartYAML("bad", "latest", "1")}), http.StatusBadRequest, "version"},
			{"../ path", charttest.Archive(chartYAML, charttest.Entry{Name: "bad/../../escape", Data: []byte("x")}), http.StatusBadRequest, "climbs out"},
			{"symlink", charttest.Archive(chartYAML, charttest.Entry{Name: "bad/values.yaml", Type: tar.TypeSymlink, Linkname: "/etc/passwd"}), http.StatusBadRequest, "link"},
			{"oversized", random, http.StatusRequestEntityTooLarge, "at most"},
			{"bomb", charttest.Archive(chartYAML, charttest.Entry{Name: "bad/zeros", Data: make([]byte, 200<<20)}), http.StatusRequestEntityTooLarge, "decompressed"},
		} {
			status, err := uploadChart(t, maintainer, ns, tc.archive, false)
			if status != tc.status || err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("%s: %d %v, want %d mentioning %q", tc.name, status, err, tc.status, tc.mention)
			}
		}
	})

	table := adminKubectl(t, "", "get", "charts", "-n", ns)
	for _, want := range []string{"NAME", "REPO", "LATEST", "APP VERSION", "VERSIONS", "web.team", "0.2.0"} {
		if !strings.Contains(table, want) {
			t.Errorf("kubectl get charts lacks %q:\n%s", want, table)
		}
	}
	eventually(t, "the repository's status counts the chart", func() error {
		repo, err := archonClient(t, adminConfig(t)).AppV1beta1().ChartRepos(ns).Get(testContext(t), "team", metav1.GetOptions{})
		if err == nil && (repo.Status.Phase != appv1beta1.ChartRepoSynced || repo.Status.Charts != 1) {
			err = fmt.Errorf("status %+v", repo.Status)
		}
		return err
	})

	repoURL := plane.ArchonURL + "/chartrepos/" + ns + "/team"
	home := t.TempDir()
	if _, err := helm(t, home, "repo", "add", "team", repoURL, "--username", "reader", "--password", reader.token, "--ca-file", plane.RegistryCA()); err != nil {
		t.Fatal(err)
	}
	out, err = helm(t, home, "search", "repo", "team/", "--versions")
	if err != nil || !strings.Contains(out, "team/web") || !strings.Contains(out, "0.1.0") || !strings.Contains(out, "0.2.0") {
		t.Errorf("helm search repo: %v\n%s", err, out)
	}
	if err := os.Mkdir(filepath.Join(dir, "pulled"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := helm(t, home, "pull", "team/web", "--version", "0.1.0", "-d", filepath.Join(dir, "pulled")); err != nil {
		t.Error(err)
	} else if _, err := os.Stat(filepath.Join(dir, "pulled", "web-0.1.0.tgz")); err != nil {
		t.Error(err)
	}
	out, err = helm(t, home, "install", "web", "team/web", "--dry-run", "-n", ns, "--kubeconfig", tokenKubeconfig(t, reader))
	if err != nil || !strings.Contains(out, "kind: ConfigMap") {
		t.Errorf("helm install --dry-run: %v\n%s", err, out)
	}
	if _, err := helm(t, t.TempDir(), "repo", "add", "team", repoURL, "--username", "outsider", "--password", outsider.token, "--ca-file", plane.RegistryCA()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a user without get chartrepos adds the repository: %v", err)
	}
	if _, err := helm(t, t.TempDir(), "repo", "add", "team", repoURL, "--ca-file", plane.RegistryCA()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("an anonymous helm adds the repository: %v", err)
	}

	// Deleting a version, then a restart: what was stored stays.
	if _, err := kubectl(t, tokenKubeconfig(t, maintainer), "", "delete", "--raw", "/apis/app.alauda.io/v1beta1/namespaces/charts-a/chartrepos/team/charts/web/0.1.0"); err != nil {
		t.Fatal(err)
	}
	restartArchon(t)
	eventually(t, "the chart after a restart", func() error {
		chart, err := archonClient(t, adminConfig(t)).AppV1beta1().Charts(ns).Get(testContext(t), "web.team", metav1.GetOptions{})
		if err == nil && (len(chart.Status.Versions) != 1 || chart.Status.Versions[0].Version != "0.2.0") {
			err = fmt.Errorf("versions %+v", chart.Status.Versions)
		}
		return err
	})
	if _, err := helm(t, home, "repo", "update", "team"); err != nil {
		t.Error(err)
	}
	if out, err := helm(t, home, "search", "repo", "team/web", "--versions"); err != nil || strings.Contains(out, "0.1.0") || !strings.Contains(out, "0.2.0") {
		t.Errorf("helm search after deleting 0.1.0 and a restart: %v\n%s", err, out)
	}
}

func TestChartRepositorySynchronises(t *testing.T) {
	const ns = "charts-b"
	createNamespaces(t, ns)
	index := `apiVersion: v1
entries:
  nginx:
  - name: nginx
    version: 1.2.0
    appVersion: "1.25"
    description: A web server
    urls: [https://charts.example.com/nginx-1.2.0.tgz]
  - name: nginx
    version: 1.10.0
    appVersion: "1.27"
    urls: [https://charts.example.com/nginx-1.10.0.tgz]
  redis:
  - name: redis
    version: 7.0.0
    urls: [https://charts.example.com/redis-7.0.0.tgz]
`
	var broken atomic.Bool
	repositoryMux.HandleFunc("/stable/", func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		switch {
		case !ok || user != "sync" || password != "s3cret":
			http.Error(w, "who are you", http.StatusUnauthorized)
		case broken.Load():
			http.Error(w, "the disk is on fire", http.StatusInternalServerError)
		case r.URL.Path == "/stable/index.yaml":
			_, _ = w.Write([]byte(index))
		default:
			http.NotFound(w, r)
		}
	})

	ctx := testContext(t)
	if _, err := kubeClient(t).CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "stable-auth"},
		StringData: map[string]string{"username": "sync", "password": "s3cret", "ca.crt": repositoryServerCA()},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	adminKubectl(t, fmt.Sprintf(`
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata: {name: stable, namespace: charts-b}
spec:
  type: Chart
  url: %s/stable
  secret: {name: stable-auth}
`, repositoryServer.URL), "apply", "-f", "-")

	archon := archonClient(t, adminConfig(t))
	eventually(t, "the repository synchronizes", func() error {
		repo, err := archon.AppV1beta1().ChartRepos(ns).Get(ctx, "stable", metav1.GetOptions{})
		if err == nil && (repo.Status.Phase != appv1beta1.ChartRepoSynced || repo.Status.Charts != 2 || repo.Status.LastSyncTime == nil) {
			err = fmt.Errorf("status %+v", repo.Status)
		}
		return err
	})
	chart, err := archon.AppV1beta1().Charts(ns).Get(ctx, "nginx.stable", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := chart.Status.Versions; len(v) != 2 || v[0].Version != "1.10.0" || v[0].AppVersion != "1.27" {
		t.Errorf("nginx versions, newest first: %+v", v)
	}

	broken.Store(true)
	adminKubectl(t, "", "annotate", "chartrepo", "stable", "-n", ns, "app.alauda.io/resync=1")
	eventually(t, "a broken repository goes Failed with the reason", func() error {
		repo, err := archon.AppV1beta1().ChartRepos(ns).Get(ctx, "stable", metav1.GetOptions{})
		if err == nil && (repo.Status.Phase != appv1beta1.ChartRepoFailed || !strings.Contains(repo.Status.Reason, "500")) {
			err = fmt.Errorf("status %+v", repo.Status)
		}
		return err
	})
	if out := adminKubectl(t, "", "get", "charts", "-n", ns, "-o", "name"); !strings.Contains(out, "nginx.stable") || !strings.Contains(out, "redis.stable") {
		t.Errorf("the last good index is no longer served:\n%s", out)
	}
}

// repositoryServerCA is the PEM certificate repositoryServer serves, as a
// repository secret's ca.crt holds it.
func repositoryServerCA() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: repositoryServer.Certificate().Raw}))
}

func TestOCIRepositoryInThePlatformRegistry(t *testing.T) {
	const ns = "charts-c"
	createNamespaces(t, ns)
	pusher := serviceAccountUser(t, ns, "pusher")
	bindRole(t, ns, "pusher", "system:image-pusher", ns, "pusher")
	archive := filepath.Join(t.TempDir(), "web-0.3.0.tgz")
	if err := os.WriteFile(archive, charttest.Chart("web", "0.3.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if _, err := helm(t, home, "registry", "login", plane.RegistryHost, "--username", "pusher", "--password", pusher.token, "--ca-file", plane.RegistryCA()); err != nil {
		t.Fatal(err)
	}
	if _, err := helm(t, home, "push", archive, "oci://"+plane.RegistryHost+"/"+ns+"/charts", "--ca-file", plane.RegistryCA()); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	archon := archonClient(t, adminConfig(t))
	eventually(t, "archon's catalog of the registry holds the chart's repository", func() error {
		_, err := archon.RegistryV1().Images(ns).Get(ctx, "charts~web", metav1.GetOptions{})
		return err
	})

	ca, err := os.ReadFile(plane.RegistryCA())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubeClient(t).CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "registry-pull"},
		Data:       map[string][]byte{"username": []byte("pusher"), "password": []byte(pusher.token), "ca.crt": ca},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	adminKubectl(t, fmt.Sprintf(`
apiVersion: app.alauda.io/v1beta1
kind: ChartRepo
metadata: {name: platform, namespace: charts-c}
spec:
  type: OCI
  url: oci://%s/charts-c/charts
  secret: {name: registry-pull}
`, plane.RegistryHost), "apply", "-f", "-")
	eventually(t, "the OCI repository synchronizes", func() error {
		repo, err := archon.AppV1beta1().ChartRepos(ns).Get(ctx, "platform", metav1.GetOptions{})
		if err == nil && (repo.Status.Phase != appv1beta1.ChartRepoSynced || repo.Status.Charts != 1) {
			err = fmt.Errorf("status %+v", repo.Status)
		}
		return err
	})
	chart, err := archon.AppV1beta1().Charts(ns).Get(ctx, "web.platform", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := chart.Status.Versions; len(v) != 1 || v[0].Version != "0.3.0" || v[0].Digest == "" {
		t.Errorf("versions %+v", v)
	}

	// A later push shows without asking: the registry's notification of it
	// has the repository read again.
	next := filepath.Join(t.TempDir(), "web-0.4.0.tgz")
	if err := os.WriteFile(next, charttest.Chart("web", "0.4.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := helm(t, home, "push", next, "oci://"+plane.RegistryHost+"/"+ns+"/charts", "--ca-file", plane.RegistryCA()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pushed version in the OCI repository", func() error {
		chart, err := archon.AppV1beta1().Charts(ns).Get(ctx, "web.platform", metav1.GetOptions{})
		if err == nil && (len(chart.Status.Versions) != 2 || chart.Status.Versions[0].Version != "0.4.0") {
			err = fmt.Errorf("versions %+v", chart.Status.Versions)
		}
		return err
	})
}
