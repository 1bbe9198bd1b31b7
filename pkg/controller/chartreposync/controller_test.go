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

package chartreposync

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/egress"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	"github.com/acp-archon/archon/pkg/helmrepo"
)

const index = `apiVersion: v1
entries:
  nginx:
  - {name: nginx, version: 1.0.0, urls: [nginx-1.0.0.tgz]}
  redis:
  - {name: redis, version: 7.0.0, urls: [redis-7.0.0.tgz]}
`

// harness runs the controller's sync against fake clients.
type harness struct {
	t       *testing.T
	ctx     context.Context
	archon  *archonfake.Clientset
	c       *Controller
	catalog *helmrepo.Catalog
}

// newHarness returns a harness whose repositories may be read from
// loopback, where the tests serve them.
func newHarness(t *testing.T, repos ...*appv1beta1.ChartRepo) *harness {
	t.Helper()
	policy, err := egress.New([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessWithPolicy(t, policy, repos...)
}

func newHarnessWithPolicy(t *testing.T, policy *egress.Policy, repos ...*appv1beta1.ChartRepo) *harness {
	t.Helper()
	var objects []runtime.Object
	for _, repo := range repos {
		objects = append(objects, repo)
	}
	archon := archonfake.NewSimpleClientset(objects...)
	informers := archoninformers.NewSharedInformerFactory(archon, 0)
	store, err := helmrepo.NewStore(t.TempDir(), helmrepo.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	catalog := helmrepo.NewCatalog()
	c, err := New(archon, kubefake.NewSimpleClientset(), informers, helmrepo.NewLocal(store, catalog), helmrepo.NewIndexFetcher(policy),
		helmrepo.NewOCIFetcher(func(string) helmrepo.OCIRepositories { return helmrepo.RegistryCatalog }, policy), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	informers.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced)
	return &harness{t: t, ctx: ctx, archon: archon, c: c, catalog: catalog}
}

// sync syncs the repository and returns its status as written.
func (h *harness) sync(name string) appv1beta1.ChartRepoStatus {
	h.t.Helper()
	if err := h.c.sync(h.ctx, "team/"+name); err != nil {
		h.t.Fatal(err)
	}
	repo, err := h.archon.AppV1beta1().ChartRepos("team").Get(h.ctx, name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return repo.Status
}

func chartRepo(name string, repoType appv1beta1.ChartRepoType, url string) *appv1beta1.ChartRepo {
	return &appv1beta1.ChartRepo{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name, UID: types.UID(name + "-uid"), Generation: 1},
		Spec:       appv1beta1.ChartRepoSpec{Type: repoType, URL: url},
	}
}

func TestLocalRepositoriesAreSyncedFromTheStore(t *testing.T) {
	h := newHarness(t, chartRepo("local", appv1beta1.ChartRepoTypeLocal, ""))
	if status := h.sync("local"); status.Phase != appv1beta1.ChartRepoSynced || status.Charts != 0 || status.LastSyncTime == nil {
		t.Errorf("an empty Local repository: %+v", status)
	}
}

func TestChartRepositoryKeepsItsLastGoodIndexWhenASyncFails(t *testing.T) {
	var broken atomic.Bool
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if broken.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte(index))
	}))
	t.Cleanup(server.Close)
	h := newHarness(t, chartRepo("stable", appv1beta1.ChartRepoTypeChart, server.URL))

	if status := h.sync("stable"); status.Phase != appv1beta1.ChartRepoSynced || status.Charts != 2 {
		t.Fatalf("first sync: %+v", status)
	}
	broken.Store(true)
	// Until the resync period passes, a sync does not fetch again.
	if status := h.sync("stable"); status.Phase != appv1beta1.ChartRepoSynced {
		t.Errorf("a sync within the resync period fetched: %+v", status)
	}
	// Asking for a resync fetches now.
	repo, err := h.archon.AppV1beta1().ChartRepos("team").Get(h.ctx, "stable", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo.Annotations = map[string]string{ResyncAnnotation: "1"}
	if _, err := h.archon.AppV1beta1().ChartRepos("team").Update(h.ctx, repo, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cached, err := h.c.repos.ChartRepos("team").Get("stable")
		if err == nil && cached.Annotations[ResyncAnnotation] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the informer never saw the annotation")
		}
	}
	status := h.sync("stable")
	if status.Phase != appv1beta1.ChartRepoFailed || status.Charts != 2 || !strings.Contains(status.Reason, "502") {
		t.Errorf("a failed sync: %+v", status)
	}
	if charts, ok := h.catalog.Charts(types.NamespacedName{Namespace: "team", Name: "stable"}); !ok || charts != 2 {
		t.Errorf("the catalog after a failed sync holds %d charts", charts)
	}
}

func TestUnreachableOCIRepositoryFails(t *testing.T) {
	h := newHarness(t, chartRepo("oci", appv1beta1.ChartRepoTypeOCI, "oci://127.0.0.1:1/charts"))
	if status := h.sync("oci"); status.Phase != appv1beta1.ChartRepoFailed || status.Reason == "" {
		t.Errorf("an unreachable OCI repository: %+v", status)
	}
}

// A repository at an internal address fails without archon connecting to
// it, and its status says why without anything the address would answer.
func TestRepositoriesAtInternalAddressesAreRefused(t *testing.T) {
	var reached atomic.Bool
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Store(true)
		_, _ = w.Write([]byte("internal secret"))
	}))
	t.Cleanup(server.Close)
	strict, err := egress.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWithPolicy(t, strict,
		chartRepo("internal", appv1beta1.ChartRepoTypeChart, server.URL),
		chartRepo("named", appv1beta1.ChartRepoTypeChart, strings.Replace(server.URL, "127.0.0.1", "localhost", 1)),
		chartRepo("oci", appv1beta1.ChartRepoTypeOCI, "oci://"+strings.TrimPrefix(server.URL, "http://")+"/charts"))
	for _, name := range []string{"internal", "named", "oci"} {
		status := h.sync(name)
		if status.Phase != appv1beta1.ChartRepoFailed || !strings.Contains(status.Reason, "loopback") || strings.Contains(status.Reason, "secret") {
			t.Errorf("%s: %+v, want Failed naming a loopback address", name, status)
		}
	}
	if reached.Load() {
		t.Error("archon connected to the internal address")
	}
}
