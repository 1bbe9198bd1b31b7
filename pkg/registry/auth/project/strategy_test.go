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

package project

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func validProject() *auth.Project {
	return &auth.Project{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "web"}, Annotations: map[string]string{auth.DisplayNameAnnotation: "Shop"}},
		Spec: auth.ProjectSpec{
			Clusters: []auth.ProjectCluster{
				{Name: "global", Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")}},
				{Name: "edge", Quota: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1")}},
			},
			Members: []auth.ProjectMember{{Kind: auth.MemberKindUser, Name: "alice", Role: auth.ProjectRoleAdmin}},
		},
	}
}

func someStatus() auth.ProjectStatus {
	return auth.ProjectStatus{Phase: auth.ProjectTerminating, Namespaces: []string{"shop-dev"}}
}

// A new project's status is archon's: whatever the request says, it starts
// Active with the quota of the cluster archon serves, and with the RBAC
// finalizer when controllers run to remove it.
func TestPrepareForCreateStartsTheStatus(t *testing.T) {
	for _, finalizeRBAC := range []bool{true, false} {
		project := validProject()
		project.Status = someStatus()
		newStrategy(api.Scheme, "global", finalizeRBAC).PrepareForCreate(context.Background(), project)
		want := auth.ProjectStatus{Phase: auth.ProjectActive, Clusters: []auth.ProjectClusterStatus{
			{Name: "global", Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("4")}},
		}}
		if !apiequality.Semantic.DeepEqual(project.Status, want) {
			t.Errorf("status %+v, want %+v", project.Status, want)
		}
		if got := slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer); got != finalizeRBAC {
			t.Errorf("with controllers %v, finalizers %v", finalizeRBAC, project.Finalizers)
		}
	}

	project := validProject()
	project.Finalizers = []string{authv1.ProjectRBACFinalizer}
	newStrategy(api.Scheme, "global", true).PrepareForCreate(context.Background(), project)
	if len(project.Finalizers) != 1 {
		t.Errorf("a finalizer the request named is added again: %v", project.Finalizers)
	}
}

// An update of the project keeps the status; an update of the status keeps
// everything else.
func TestUpdatesChangeTheirOwnPart(t *testing.T) {
	s := newStrategy(api.Scheme, "global", true)
	old := validProject()
	old.Status = someStatus()

	project := validProject()
	project.Spec.Members = nil
	project.Status = auth.ProjectStatus{Phase: auth.ProjectActive}
	s.PrepareForUpdate(context.Background(), project, old)
	if !apiequality.Semantic.DeepEqual(project.Status, old.Status) || project.Spec.Members != nil {
		t.Errorf("update: status %+v, members %v; want the old status and the new members", project.Status, project.Spec.Members)
	}

	update := validProject()
	update.Spec.Members = nil
	update.Labels = map[string]string{"team": "other"}
	update.Annotations = nil
	update.Status = auth.ProjectStatus{Phase: auth.ProjectActive, Namespaces: []string{"shop-prod"}}
	statusStrategy{s}.PrepareForUpdate(context.Background(), update, old)
	if !apiequality.Semantic.DeepEqual(update.Spec, old.Spec) || !apiequality.Semantic.DeepEqual(update.Labels, old.Labels) ||
		!apiequality.Semantic.DeepEqual(update.Annotations, old.Annotations) {
		t.Errorf("status update changed spec %+v, labels %v or annotations %v", update.Spec, update.Labels, update.Annotations)
	}
	if !slices.Equal(update.Status.Namespaces, []string{"shop-prod"}) {
		t.Errorf("status update lost the status: %+v", update.Status)
	}
}

// Server-side apply records no ownership of what each endpoint ignores.
func TestResetFields(t *testing.T) {
	s := newStrategy(api.Scheme, "global", true)
	version := fieldpath.APIVersion(authv1.SchemeGroupVersion.String())
	if set := s.GetResetFields()[version]; set == nil || !set.Has(fieldpath.MakePathOrDie("status")) {
		t.Errorf("the main resource resets %v, want status", set)
	}
	set := statusStrategy{s}.GetResetFields()[version]
	for _, path := range []fieldpath.Path{fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels")} {
		if set == nil || !set.Has(path) {
			t.Errorf("the status resets %v, want %v among them", set, path)
		}
	}
}

func TestStrategiesValidate(t *testing.T) {
	s := newStrategy(api.Scheme, "global", true)
	ctx := context.Background()
	valid, invalid := validProject(), validProject()
	valid.ResourceVersion, invalid.ResourceVersion = "1", "1"
	invalid.Spec.Members[0].Role = "owner"
	if errs := s.Validate(ctx, valid); len(errs) != 0 {
		t.Errorf("a valid project: %v", errs)
	}
	if errs := s.Validate(ctx, invalid); len(errs) != 1 || errs[0].Field != "spec.members[0].role" {
		t.Errorf("a project with an unknown role: %v", errs)
	}
	if errs := s.ValidateUpdate(ctx, invalid, valid); len(errs) != 1 || errs[0].Field != "spec.members[0].role" {
		t.Errorf("an update to an unknown role: %v", errs)
	}
	badStatus := valid.DeepCopy()
	badStatus.Status.Phase = "Sleeping"
	if errs := (statusStrategy{s}).ValidateUpdate(ctx, badStatus, valid); len(errs) != 1 || errs[0].Field != "status.phase" {
		t.Errorf("a status update to an unknown phase: %v", errs)
	}
}

// Lists select projects by labels, name and phase, and the server accepts a
// selector on each field the storage can match.
func TestGetAttrs(t *testing.T) {
	project := validProject()
	project.Status.Phase = auth.ProjectActive
	labelSet, fieldSet, err := getAttrs(project)
	if err != nil {
		t.Fatal(err)
	}
	if !labels.Equals(labelSet, labels.Set{"team": "web"}) {
		t.Errorf("labels %v", labelSet)
	}
	want := fields.Set{"metadata.name": "shop", auth.ProjectPhaseField: "Active"}
	if !apiequality.Semantic.DeepEqual(fieldSet, want) {
		t.Errorf("fields %v, want %v", fieldSet, want)
	}
	storagetest.CheckFieldSelectors(t, authv1.SchemeGroupVersion.WithKind("Project"), fieldSet)

	match := matchProject(labels.Everything(), fields.OneTermEqualSelector(auth.ProjectPhaseField, "Terminating"))
	if ok, err := match.Matches(project); err != nil || ok {
		t.Errorf("an Active project matches status.phase=Terminating: %v %v", ok, err)
	}
	if _, _, err := getAttrs(&auth.NamespaceImport{}); err == nil {
		t.Error("getAttrs takes a NamespaceImport for a project")
	}
}
