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

package namespaceimport

import (
	"context"
	"testing"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

var recordStrategy = strategy{api.Scheme, names.SimpleNameGenerator}

func validImport() *auth.NamespaceImport {
	return &auth.NamespaceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "import-legacy", ResourceVersion: "1", Labels: map[string]string{"batch": "1"}},
		Spec:       auth.NamespaceImportSpec{Project: "shop", Cluster: "global", Namespace: "legacy"},
	}
}

// A record keeps the status the import wrote into it on create: unlike a
// status a client sends, it is the outcome.
func TestPrepareForCreateKeepsTheOutcome(t *testing.T) {
	imp := validImport()
	imp.Status = auth.NamespaceImportStatus{Phase: auth.NamespaceImportImporting}
	recordStrategy.PrepareForCreate(context.Background(), imp)
	if imp.Status.Phase != auth.NamespaceImportImporting {
		t.Errorf("status %+v", imp.Status)
	}
}

// Records cannot be updated; archon's completion of an Importing record
// changes its status and nothing else, once.
func TestRecordsChangeOnlyByCompletion(t *testing.T) {
	ctx := context.Background()
	old := validImport()
	old.Status.Phase = auth.NamespaceImportImporting
	changed := validImport()
	changed.Spec.Namespace = "other"
	if errs := recordStrategy.ValidateUpdate(ctx, changed, old); len(errs) == 0 {
		t.Error("a record was updated")
	}

	completion := statusStrategy{recordStrategy}
	done := validImport()
	done.Spec.Namespace = "other"
	done.Labels = nil
	done.Status.Phase = auth.NamespaceImportSucceeded
	completion.PrepareForUpdate(ctx, done, old)
	if !apiequality.Semantic.DeepEqual(done.Spec, old.Spec) || !apiequality.Semantic.DeepEqual(done.ObjectMeta, old.ObjectMeta) {
		t.Errorf("completion changed spec %+v or metadata %+v", done.Spec, done.ObjectMeta)
	}
	if done.Status.Phase != auth.NamespaceImportSucceeded {
		t.Errorf("completion lost the outcome: %+v", done.Status)
	}
	if errs := completion.ValidateUpdate(ctx, done, old); len(errs) != 0 {
		t.Errorf("completing an Importing record: %v", errs)
	}
	if errs := completion.ValidateUpdate(ctx, done, done.DeepCopy()); len(errs) != 1 || errs[0].Field != "status" {
		t.Errorf("completing a Succeeded record again: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	if errs := recordStrategy.Validate(ctx, validImport()); len(errs) != 0 {
		t.Errorf("a valid import: %v", errs)
	}
	invalid := validImport()
	invalid.Spec.Project = ""
	if errs := recordStrategy.Validate(ctx, invalid); len(errs) != 1 || errs[0].Field != "spec.project" {
		t.Errorf("an import without a project: %v", errs)
	}
}

// Lists select records by labels, name, project, namespace and phase (the
// phase is how archon finds imports it was interrupted in), and the server
// accepts a selector on each field the storage can match.
func TestGetAttrs(t *testing.T) {
	imp := validImport()
	imp.Status.Phase = auth.NamespaceImportImporting
	labelSet, fieldSet, err := getAttrs(imp)
	if err != nil {
		t.Fatal(err)
	}
	if !labels.Equals(labelSet, labels.Set{"batch": "1"}) {
		t.Errorf("labels %v", labelSet)
	}
	want := fields.Set{
		"metadata.name":                    "import-legacy",
		auth.NamespaceImportProjectField:   "shop",
		auth.NamespaceImportNamespaceField: "legacy",
		auth.NamespaceImportPhaseField:     "Importing",
	}
	if !apiequality.Semantic.DeepEqual(fieldSet, want) {
		t.Errorf("fields %v, want %v", fieldSet, want)
	}
	storagetest.CheckFieldSelectors(t, authv1.SchemeGroupVersion.WithKind("NamespaceImport"), fieldSet)

	match := matchNamespaceImport(labels.Everything(), fields.OneTermEqualSelector(auth.NamespaceImportPhaseField, "Importing"))
	if ok, err := match.Matches(imp); err != nil || !ok {
		t.Errorf("an Importing record does not match status.phase=Importing: %v %v", ok, err)
	}
	if _, _, err := getAttrs(&auth.Project{}); err == nil {
		t.Error("getAttrs takes a Project for an import")
	}
}
