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

package templateapp_test

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/acp-archon/archon/internal/charttest"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	applisters "github.com/acp-archon/archon/pkg/generated/listers/app/v1beta1"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/templateapp"
)

// TestChartsComeFromTheNamespaceOrTheCatalog: a template names a
// repository of its own namespace the requester may read, or one of the
// platform's catalog; never another namespace's.
func TestChartsComeFromTheNamespaceOrTheCatalog(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	store, err := helmrepo.NewStore(t.TempDir(), helmrepo.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	local := helmrepo.NewLocal(store, helmrepo.NewCatalog())
	repo := func(namespace, name string, labels map[string]string) {
		t.Helper()
		r := &appv1beta1.ChartRepo{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(namespace + "-" + name), Labels: labels},
			Spec: appv1beta1.ChartRepoSpec{Type: appv1beta1.ChartRepoTypeLocal}, Status: appv1beta1.ChartRepoStatus{Phase: appv1beta1.ChartRepoSynced}}
		if err := indexer.Add(r); err != nil {
			t.Fatal(err)
		}
		if _, err := local.Upload(types.NamespacedName{Namespace: namespace, Name: name}, r.UID, charttest.Chart("web", "1.0.0"), false); err != nil {
			t.Fatal(err)
		}
	}
	repo("shop", "team", nil)
	repo("elsewhere", "private", nil)
	repo(templateapp.CatalogNamespace, "platform", map[string]string{appv1beta1.CatalogLabel: "true"})
	repo(templateapp.CatalogNamespace, "internal", nil)

	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = review.Spec.User == "dev" && review.Spec.ResourceAttributes.Namespace == "shop"
		return true, review, nil
	})
	charts := templateapp.NewCharts(applisters.NewChartRepoLister(indexer), local, nil, nil, kube.AuthorizationV1().SubjectAccessReviews())
	load := func(source, version string, as string) error {
		repository, chart, _ := strings.Cut(source, "/")
		loaded, err := charts.Load(context.Background(), "shop", templateapp.Template{Repository: repository, Chart: chart, Version: version},
			templateapp.Requester{Username: as})
		if err == nil && (loaded.Name() != "web" || loaded.Metadata.Version != version) {
			t.Errorf("%s %s: loaded %s %s", source, version, loaded.Name(), loaded.Metadata.Version)
		}
		return err
	}
	for _, ok := range []string{"team/web", "platform/web"} {
		if err := load(ok, "1.0.0", "dev"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ source, version, as, says string }{
		{"private/web", "1.0.0", "dev", "no chart repository private that user dev may read"},
		{"internal/web", "1.0.0", "dev", "no chart repository internal"},
		{"team/web", "1.0.0", "viewer-of-nothing", "no chart repository team that user viewer-of-nothing may read"},
		{"team/db", "1.0.0", "dev", "has no chart db"},
		{"team/web", "2.0.0", "dev", "has no version 2.0.0 (it has 1.0.0)"},
	} {
		failure, ok := templateapp.AsFailure(load(tc.source, tc.version, tc.as))
		if !ok || failure.Reason != templateapp.ReasonChartLoadFailed || !strings.Contains(failure.Message, tc.says) {
			t.Errorf("%s %s as %s: %v, want ChartLoadFailed saying %q", tc.source, tc.version, tc.as, failure, tc.says)
		}
	}
}
