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
	"bytes"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/acp-archon/archon/internal/charttest"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
)

// archonRSS is archon's resident memory in bytes.
func archonRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", plane.ArchonPID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if value, found := strings.CutPrefix(line, "VmRSS:"); found {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// A small upload holding archives nested in a directory subchart, which
// helm would inflate to 285 MiB, is refused as too large while archon's
// memory barely moves.
func TestNestedChartArchivesCountAgainstTheUploadBudget(t *testing.T) {
	const ns = "charts-bomb"
	createNamespaces(t, ns)
	maintainer := serviceAccountUser(t, ns, "maintainer")
	bindRole(t, ns, "maintainer", "acp:namespace-admin", ns, "maintainer")
	adminKubectl(t, "apiVersion: app.alauda.io/v1beta1\nkind: ChartRepo\nmetadata: {name: team, namespace: charts-bomb}\nspec: {type: Local}\n", "apply", "-f", "-")

	bomb := charttest.NestedBomb(3, 95<<20, 4<<20)
	before := archonRSS(t)
	var status int
	var err error
	eventually(t, "the upload is answered", func() error {
		status, err = uploadChart(t, maintainer, ns, bomb, false)
		if status == http.StatusNotFound || status == http.StatusForbidden {
			return fmt.Errorf("%d %w", status, err) // the repository or the binding is new
		}
		return nil
	})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(fmt.Sprint(err), "subcharts included") {
		t.Errorf("a %d-byte upload inflating to 285 MiB: %d %v, want 413", len(bomb), status, err)
	}
	if grown := archonRSS(t) - before; grown > 50<<20 {
		t.Errorf("archon grew %d MiB checking it", grown>>20)
	}
}

// A remote repository whose index is a YAML bomb fails without archon
// growing; one at an internal address fails without archon connecting;
// credentials never go over plain HTTP; and the status says why without
// echoing what the address answered.
func TestRemoteRepositoriesCannotReachInsideOrExhaustArchon(t *testing.T) {
	const ns = "charts-ssrf"
	createNamespaces(t, ns)
	ctx := testContext(t)
	bomb := append([]byte("apiVersion: v1\nentries: ["), bytes.Repeat([]byte("a,"), 2<<20)...)
	repositoryMux.HandleFunc("/bomb/index.yaml", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bomb) })
	repositoryMux.HandleFunc("/plain/index.yaml", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("apiVersion: v1\nentries: {}\n")) })
	if _, err := kubeClient(t).CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"username": "u", "password": "p"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeAPIServer := strings.TrimPrefix(plane.KubeAPIServerURL, "https://")
	repositories := map[string]struct{ spec, reason string }{
		"bomb":      {fmt.Sprintf("type: Chart\n  url: %s/bomb\n  secret: {name: ca}", repositoryServer.URL), "YAML nodes"},
		"loopback":  {"type: Chart\n  url: https://" + kubeAPIServer, "loopback"},
		"metadata":  {"type: Chart\n  url: http://169.254.169.254/latest", "link-local"},
		"localhost": {"type: OCI\n  url: oci://localhost:" + strings.Split(kubeAPIServer, ":")[1] + "/charts", "loopback"},
		"plain":     {"type: Chart\n  url: " + strings.Replace(repositoryServer.URL, "https://", "http://", 1) + "/plain\n  secret: {name: creds}", "https only"},
	}
	if _, err := kubeClient(t).CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "ca"},
		StringData: map[string]string{"ca.crt": repositoryServerCA()},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := archonRSS(t)
	for name, repo := range repositories {
		adminKubectl(t, fmt.Sprintf("apiVersion: app.alauda.io/v1beta1\nkind: ChartRepo\nmetadata: {name: %s, namespace: %s}\nspec:\n  %s\n", name, ns, repo.spec), "apply", "-f", "-")
	}
	archon := archonClient(t, adminConfig(t))
	for name, repo := range repositories {
		eventually(t, name+" fails", func() error {
			got, err := archon.AppV1beta1().ChartRepos(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil && (got.Status.Phase != appv1beta1.ChartRepoFailed || !strings.Contains(got.Status.Reason, repo.reason)) {
				err = fmt.Errorf("status %+v, want Failed mentioning %q", got.Status, repo.reason)
			}
			return err
		})
	}
	got, err := archon.AppV1beta1().ChartRepos(ns).Get(ctx, "loopback", metav1.GetOptions{})
	// A status code, not a port number that happens to hold 401.
	if err != nil || strings.Contains(got.Status.Reason, "Unauthorized") || statusCode401.MatchString(got.Status.Reason) {
		t.Errorf("the status of a loopback repository echoes what kube-apiserver answered: %v %q", err, got.Status.Reason)
	}
	if grown := archonRSS(t) - before; grown > 100<<20 {
		t.Errorf("archon grew %d MiB reading a 4 MB index bomb", grown>>20)
	}
}

// statusCode401 finds 401 standing alone.
var statusCode401 = regexp.MustCompile(`\b401\b`)
