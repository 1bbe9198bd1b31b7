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

package chartrepo

import (
	"context"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
)

func validRepo() *app.ChartRepo {
	return &app.ChartRepo{
		ObjectMeta: metav1.ObjectMeta{Name: "stable", Namespace: "shop-dev", ResourceVersion: "1",
			Labels: map[string]string{"tier": "public"}, Annotations: map[string]string{"note": "mirror"}},
		Spec: app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://charts.example.com"},
	}
}

var repoStrategy = strategy{api.Scheme, names.SimpleNameGenerator}

// A new repository is Pending whatever the request says: only the sync
// controller knows what it holds.
func TestPrepareForCreateStartsPending(t *testing.T) {
	repo := validRepo()
	repo.Status = app.ChartRepoStatus{Phase: app.ChartRepoSynced, Charts: 12}
	repoStrategy.PrepareForCreate(context.Background(), repo)
	if want := (app.ChartRepoStatus{Phase: app.ChartRepoPending}); !apiequality.Semantic.DeepEqual(repo.Status, want) {
		t.Errorf("status %+v, want %+v", repo.Status, want)
	}
}

// An update of the repository keeps the status; an update of the status
// keeps everything else.
func TestUpdatesChangeTheirOwnPart(t *testing.T) {
	old := validRepo()
	old.Status = app.ChartRepoStatus{Phase: app.ChartRepoSynced, Charts: 12}

	repo := validRepo()
	repo.Spec.Type = app.ChartRepoTypeLocal
	repo.Status = app.ChartRepoStatus{Phase: app.ChartRepoFailed}
	repoStrategy.PrepareForUpdate(context.Background(), repo, old)
	if !apiequality.Semantic.DeepEqual(repo.Status, old.Status) || repo.Spec.Type != app.ChartRepoTypeLocal {
		t.Errorf("update: status %+v, type %s; want the old status and the new type", repo.Status, repo.Spec.Type)
	}

	update := validRepo()
	update.Spec.URL = "https://elsewhere.example.com"
	update.Labels, update.Annotations = nil, map[string]string{"note": "changed"}
	update.Status = app.ChartRepoStatus{Phase: app.ChartRepoFailed, Reason: "unreachable"}
	statusStrategy{repoStrategy}.PrepareForUpdate(context.Background(), update, old)
	if !apiequality.Semantic.DeepEqual(update.Spec, old.Spec) || !apiequality.Semantic.DeepEqual(update.Labels, old.Labels) ||
		!apiequality.Semantic.DeepEqual(update.Annotations, old.Annotations) {
		t.Errorf("status update changed spec %+v, labels %v or annotations %v", update.Spec, update.Labels, update.Annotations)
	}
	if update.Status.Reason != "unreachable" {
		t.Errorf("status update lost the status: %+v", update.Status)
	}
}

func TestResetFields(t *testing.T) {
	version := fieldpath.APIVersion(appv1beta1.SchemeGroupVersion.String())
	if set := repoStrategy.GetResetFields()[version]; set == nil || !set.Has(fieldpath.MakePathOrDie("status")) {
		t.Errorf("the main resource resets %v, want status", set)
	}
	set := statusStrategy{repoStrategy}.GetResetFields()[version]
	for _, path := range []fieldpath.Path{fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "annotations")} {
		if set == nil || !set.Has(path) {
			t.Errorf("the status resets %v, want %v among them", set, path)
		}
	}
}

func TestStrategiesValidate(t *testing.T) {
	ctx := context.Background()
	valid, noURL := validRepo(), validRepo()
	noURL.Spec.URL = ""
	if errs := repoStrategy.Validate(ctx, valid); len(errs) != 0 {
		t.Errorf("a valid repository: %v", errs)
	}
	if errs := repoStrategy.Validate(ctx, noURL); len(errs) != 1 || errs[0].Field != "spec.url" {
		t.Errorf("a repository without a URL: %v", errs)
	}
	moved := validRepo()
	moved.Spec.URL = "https://elsewhere.example.com"
	if errs := repoStrategy.ValidateUpdate(ctx, moved, valid); len(errs) != 1 || errs[0].Field != "spec.url" {
		t.Errorf("moving a repository: %v", errs)
	}
	negative := validRepo()
	negative.Status = app.ChartRepoStatus{Phase: app.ChartRepoSynced, Charts: -1}
	if errs := (statusStrategy{repoStrategy}).ValidateUpdate(ctx, negative, valid); len(errs) != 1 || errs[0].Field != "status.charts" {
		t.Errorf("a negative chart count: %v", errs)
	}
}

// Lists select repositories by labels, name, namespace, type and phase,
// and the server accepts a selector on each field the storage can match.
func TestGetAttrs(t *testing.T) {
	repo := validRepo()
	repo.Status.Phase = app.ChartRepoSynced
	labelSet, fieldSet, err := getAttrs(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !labels.Equals(labelSet, labels.Set{"tier": "public"}) {
		t.Errorf("labels %v", labelSet)
	}
	want := fields.Set{"metadata.name": "stable", "metadata.namespace": "shop-dev", app.ChartRepoTypeField: "Chart", app.ChartRepoPhaseField: "Synced"}
	if !apiequality.Semantic.DeepEqual(fieldSet, want) {
		t.Errorf("fields %v, want %v", fieldSet, want)
	}
	storagetest.CheckFieldSelectors(t, appv1beta1.SchemeGroupVersion.WithKind("ChartRepo"), fieldSet)

	match := matchChartRepo(labels.Everything(), fields.OneTermEqualSelector(app.ChartRepoTypeField, "OCI"))
	if ok, err := match.Matches(repo); err != nil || ok {
		t.Errorf("a Chart repository matches spec.type=OCI: %v %v", ok, err)
	}
	if _, _, err := getAttrs(&app.ApplicationExport{}); err == nil {
		t.Error("getAttrs takes an ApplicationExport for a repository")
	}
}
