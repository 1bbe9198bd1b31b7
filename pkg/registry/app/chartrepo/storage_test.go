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

package chartrepo_test

import (
	"context"
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/registry/app/chartrepo"
)

var etcdURL string

func TestMain(m *testing.M) {
	os.Exit(storagetest.Main(m, &etcdURL))
}

func newStorage(t *testing.T) (*chartrepo.REST, *chartrepo.StatusREST) {
	t.Helper()
	repos, status, err := chartrepo.NewStorage(api.Scheme,
		storagetest.RESTOptions(t, etcdURL, appv1beta1.SchemeGroupVersion, app.Resource("chartrepos")), secretReaders)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repos.Destroy)
	return repos, status
}

// secretReaders lets "secret-reader" read the secret "creds" alone.
var secretReaders = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser().GetName() == "secret-reader" && a.GetResource() == "secrets" && a.GetVerb() == "get" && a.GetName() == "creds" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
})

func inNamespace(namespace string) context.Context {
	return genericapirequest.WithUser(genericapirequest.WithNamespace(genericapirequest.NewContext(), namespace), &user.DefaultInfo{Name: "secret-reader"})
}

func TestChartReposNameOnlySecretsTheirAuthorMayRead(t *testing.T) {
	repos, _ := newStorage(t)
	repo := func(name, secret string) *app.ChartRepo {
		return &app.ChartRepo{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"},
			Spec: app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://charts.example.com", Secret: &app.SecretReference{Name: secret, Namespace: "platform"}}}
	}
	if _, err := repos.Create(inNamespace("team"), repo("readable", "creds"), rest.ValidateAllObjectFunc, &metav1.CreateOptions{}); err != nil {
		t.Errorf("a secret the author may read: %v", err)
	}
	_, err := repos.Create(inNamespace("team"), repo("unreadable", "admin-token"), rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "spec.secret") || !strings.Contains(err.Error(), "platform/admin-token") {
		t.Errorf("a secret the author may not read: %v", err)
	}
	stranger := genericapirequest.WithUser(inNamespace("team"), &user.DefaultInfo{Name: "stranger"})
	obj, err := repos.Get(stranger, "readable", &metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relabeled := obj.(*app.ChartRepo).DeepCopy()
	relabeled.Labels = map[string]string{"team": "a"}
	updated, _, err := repos.Update(stranger, "readable", rest.DefaultUpdatedObjectInfo(relabeled), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("an update keeping the secret: %v", err)
	}
	moved := updated.(*app.ChartRepo).DeepCopy()
	moved.Spec.Secret.Name = "admin-token"
	if _, _, err := repos.Update(stranger, "readable", rest.DefaultUpdatedObjectInfo(moved), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("an update to a secret the author may not read: %v", err)
	}
}

func TestChartReposStartPendingAndKeepTheirURL(t *testing.T) {
	repos, status := newStorage(t)
	ctx := inNamespace("cpaas-system")
	created, err := repos.Create(ctx, &app.ChartRepo{
		ObjectMeta: metav1.ObjectMeta{Name: "stable", Namespace: "cpaas-system", Labels: map[string]string{app.CatalogLabel: "true"}},
		Spec:       app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://charts.example.com"},
		Status:     app.ChartRepoStatus{Phase: app.ChartRepoSynced, Charts: 99},
	}, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repo := created.(*app.ChartRepo)
	if repo.Status.Phase != app.ChartRepoPending || repo.Status.Charts != 0 {
		t.Errorf("a new repository's status: %+v", repo.Status)
	}

	moved := repo.DeepCopy()
	moved.Spec.URL = "https://elsewhere.example.com"
	_, _, err = repos.Update(ctx, "stable", rest.DefaultUpdatedObjectInfo(moved), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("changing the URL: %v, want 422", err)
	}

	synced := repo.DeepCopy()
	synced.Status = app.ChartRepoStatus{Phase: app.ChartRepoSynced, Charts: 3}
	synced.Spec.URL = "https://ignored.example.com"
	updated, _, err := status.Update(ctx, "stable", rest.DefaultUpdatedObjectInfo(synced), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := updated.(*app.ChartRepo); got.Status.Charts != 3 || got.Spec.URL != "https://charts.example.com" {
		t.Errorf("status update: %+v", got)
	}

	list, err := repos.List(ctx, &metainternalversion.ListOptions{FieldSelector: fields.OneTermEqualSelector(app.ChartRepoPhaseField, "Synced")})
	if err != nil || len(list.(*app.ChartRepoList).Items) != 1 {
		t.Errorf("list by phase: %v %v", list, err)
	}
}
