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

package project_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/embeddedetcd"
	"github.com/acp-archon/archon/pkg/registry/auth/project"
)

// sharedEtcdURL is the member every test but the restart test stores in.
// Starting one per test would cost more than the tests themselves.
var sharedEtcdURL string

func TestMain(m *testing.M) {
	os.Exit(storagetest.Main(m, &sharedEtcdURL))
}

// newStorage returns project storage on the etcd member at etcdURL. Keys go
// under a prefix named after the test, so tests sharing a member never see
// each other's projects, and a second call in one test sees the first's.
func newStorage(t *testing.T, etcdURL string) (*project.REST, *project.StatusREST) {
	t.Helper()
	optsGetter := storagetest.RESTOptions(t, etcdURL, authv1.SchemeGroupVersion, auth.Resource("projects"))
	projects, status, err := project.NewStorage(api.Scheme, optsGetter, "global", nil, nil)
	if err != nil {
		t.Fatalf("building storage: %v", err)
	}
	t.Cleanup(projects.Destroy)
	return projects, status
}

// requestContext is the context the API handler passes to storage: it always
// carries the request's namespace, empty for cluster-scoped projects.
func requestContext() context.Context {
	return genericapirequest.WithNamespace(genericapirequest.NewContext(), metav1.NamespaceNone)
}

// newProject is a valid project as it reaches storage: internal and with
// defaults already applied.
func newProject(name string) *auth.Project {
	return &auth.Project{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: auth.ProjectSpec{
			Clusters: []auth.ProjectCluster{{
				Name:  "global",
				Quota: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			}},
			Members: []auth.ProjectMember{
				{Kind: auth.MemberKindUser, Name: "alice", Role: auth.ProjectRoleAdmin},
			},
		},
	}
}

func terminatingStatus() auth.ProjectStatus {
	return auth.ProjectStatus{
		Phase:      auth.ProjectTerminating,
		Namespaces: []string{"payments-api"},
		Clusters: []auth.ProjectClusterStatus{{
			Name: "global",
			Hard: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Used: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}},
	}
}

func create(t *testing.T, projects *project.REST, p *auth.Project) *auth.Project {
	t.Helper()
	obj, err := projects.Create(requestContext(), p, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s: %v", p.Name, err)
	}
	return obj.(*auth.Project)
}

func get(t *testing.T, projects *project.REST, name string) *auth.Project {
	t.Helper()
	obj, err := projects.Get(requestContext(), name, &metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting %s: %v", name, err)
	}
	return obj.(*auth.Project)
}

// updater is the Update method shared by the project and status endpoints.
type updater interface {
	Update(context.Context, string, rest.UpdatedObjectInfo, rest.ValidateObjectFunc, rest.ValidateObjectUpdateFunc, bool, *metav1.UpdateOptions) (runtime.Object, bool, error)
}

func update(store updater, p *auth.Project) (*auth.Project, error) {
	obj, _, err := store.Update(requestContext(), p.Name, rest.DefaultUpdatedObjectInfo(p),
		rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*auth.Project), nil
}

func mustUpdate(t *testing.T, store updater, p *auth.Project) *auth.Project {
	t.Helper()
	updated, err := update(store, p)
	if err != nil {
		t.Fatalf("updating %s: %v", p.Name, err)
	}
	return updated
}

func listNames(t *testing.T, projects *project.REST, options *metainternalversion.ListOptions) (names []string, list *auth.ProjectList) {
	t.Helper()
	obj, err := projects.List(requestContext(), options)
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	list = obj.(*auth.ProjectList)
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names, list
}

func TestCreateMakesProjectActive(t *testing.T) {
	tests := []struct {
		name   string
		status auth.ProjectStatus
	}{
		{name: "no status", status: auth.ProjectStatus{}},
		// The status is the platform's to write; a client cannot start a
		// project off terminating or owning namespaces.
		{name: "status supplied by the client", status: terminatingStatus()},
	}
	projects, _ := newStorage(t, sharedEtcdURL)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newProject(fmt.Sprintf("project-%d", i))
			// The status starts with the quota of the cluster the storage
			// serves ("global"), as the status controller would write it.
			var hard corev1.ResourceList
			for _, c := range in.Spec.Clusters {
				if c.Name == "global" {
					hard = c.Quota
				}
			}
			if hard == nil {
				t.Fatal("the test project does not list cluster global")
			}
			want := auth.ProjectStatus{Phase: auth.ProjectActive, Clusters: []auth.ProjectClusterStatus{{Name: "global", Hard: hard}}}
			in.Status = tc.status
			created := create(t, projects, in)
			if !apiequality.Semantic.DeepEqual(created.Status, want) {
				t.Errorf("created status = %+v, want %+v", created.Status, want)
			}
			if stored := get(t, projects, in.Name); !apiequality.Semantic.DeepEqual(stored.Status, want) {
				t.Errorf("stored status = %+v, want %+v", stored.Status, want)
			}
			if created.UID == "" || created.CreationTimestamp.IsZero() || created.ResourceVersion == "" {
				t.Errorf("system fields not set: uid %q, creationTimestamp %v, resourceVersion %q",
					created.UID, created.CreationTimestamp, created.ResourceVersion)
			}
		})
	}
}

func TestUpdateKeepsStatus(t *testing.T) {
	projects, status := newStorage(t, sharedEtcdURL)
	created := create(t, projects, newProject("payments"))
	created.Status = terminatingStatus()
	before := mustUpdate(t, status, created)

	change := before.DeepCopy()
	change.Spec.Members = append(change.Spec.Members, auth.ProjectMember{Kind: auth.MemberKindGroup, Name: "auditors", Role: auth.ProjectRoleAuditor})
	change.Status = auth.ProjectStatus{Phase: auth.ProjectActive}
	updated := mustUpdate(t, projects, change)

	for what, got := range map[string]*auth.Project{"returned": updated, "stored": get(t, projects, "payments")} {
		if !apiequality.Semantic.DeepEqual(got.Status, before.Status) {
			t.Errorf("%s status = %+v, want it kept as %+v", what, got.Status, before.Status)
		}
		if !apiequality.Semantic.DeepEqual(got.Spec, change.Spec) {
			t.Errorf("%s spec = %+v, want %+v", what, got.Spec, change.Spec)
		}
	}
}

func TestStatusUpdateKeepsSpecAndMetadata(t *testing.T) {
	projects, status := newStorage(t, sharedEtcdURL)
	in := newProject("payments")
	in.Labels = map[string]string{"tier": "gold"}
	in.Annotations = map[string]string{auth.DisplayNameAnnotation: "Payments"}
	before := create(t, projects, in)

	change := before.DeepCopy()
	change.Spec.Members = nil
	change.Labels = map[string]string{"tier": "bronze"}
	change.Annotations = nil
	change.Status = terminatingStatus()
	updated := mustUpdate(t, status, change)

	for what, got := range map[string]*auth.Project{"returned": updated, "stored": get(t, projects, "payments")} {
		if !apiequality.Semantic.DeepEqual(got.Status, change.Status) {
			t.Errorf("%s status = %+v, want %+v", what, got.Status, change.Status)
		}
		if !apiequality.Semantic.DeepEqual(got.Spec, before.Spec) {
			t.Errorf("%s spec = %+v, want it kept as %+v", what, got.Spec, before.Spec)
		}
		if !apiequality.Semantic.DeepEqual(got.Labels, before.Labels) || !apiequality.Semantic.DeepEqual(got.Annotations, before.Annotations) {
			t.Errorf("%s labels, annotations = %v, %v; want them kept as %v, %v", what, got.Labels, got.Annotations, before.Labels, before.Annotations)
		}
	}
}

func TestInvalidWritesRejected(t *testing.T) {
	projects, status := newStorage(t, sharedEtcdURL)
	existing := create(t, projects, newProject("payments"))

	tests := []struct {
		name      string
		write     func() error
		wantField string
	}{
		{
			name: "create with an uppercase name",
			write: func() error {
				_, err := projects.Create(requestContext(), newProject("Payments"), rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
				return err
			},
			wantField: "metadata.name",
		},
		{
			name: "create with a duplicate cluster",
			write: func() error {
				p := newProject("billing")
				p.Spec.Clusters = append(p.Spec.Clusters, auth.ProjectCluster{Name: "global"})
				_, err := projects.Create(requestContext(), p, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
				return err
			},
			wantField: "spec.clusters[1].name",
		},
		{
			name: "update adding a ServiceAccount without namespace",
			write: func() error {
				p := existing.DeepCopy()
				p.Spec.Members = append(p.Spec.Members, auth.ProjectMember{Kind: auth.MemberKindServiceAccount, Name: "deployer", Role: auth.ProjectRoleAdmin})
				_, err := update(projects, p)
				return err
			},
			wantField: "spec.members[1].namespace",
		},
		{
			name: "status update to an unknown phase",
			write: func() error {
				p := existing.DeepCopy()
				p.Status.Phase = "Deleted"
				_, err := update(status, p)
				return err
			},
			wantField: "status.phase",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error = %v, want an Invalid error", err)
			}
			apiStatus := err.(apierrors.APIStatus).Status()
			if apiStatus.Code != http.StatusUnprocessableEntity {
				t.Errorf("code = %d, want %d", apiStatus.Code, http.StatusUnprocessableEntity)
			}
			var fields []string
			for _, cause := range apiStatus.Details.Causes {
				fields = append(fields, cause.Field)
			}
			if !slices.Equal(fields, []string{tc.wantField}) {
				t.Errorf("fields of the causes = %v, want [%s]", fields, tc.wantField)
			}
		})
	}

	// Nothing was written by the rejected requests.
	if stored := get(t, projects, "payments"); stored.ResourceVersion != existing.ResourceVersion {
		t.Errorf("resourceVersion moved from %s to %s", existing.ResourceVersion, stored.ResourceVersion)
	}
	if _, err := projects.Get(requestContext(), "billing", &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of the rejected project: error = %v, want NotFound", err)
	}
}

func TestUpdateWithStaleResourceVersionConflicts(t *testing.T) {
	tests := []struct {
		name  string
		store func(*project.REST, *project.StatusREST) updater
	}{
		{name: "projects", store: func(projects *project.REST, _ *project.StatusREST) updater { return projects }},
		{name: "projects/status", store: func(_ *project.REST, status *project.StatusREST) updater { return status }},
	}
	projects, status := newStorage(t, sharedEtcdURL)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stale := create(t, projects, newProject(fmt.Sprintf("project-%d", i)))
			// Someone else writes first.
			fresh := stale.DeepCopy()
			fresh.Spec.Members[0].Role = auth.ProjectRoleAuditor
			mustUpdate(t, projects, fresh)

			stale.Spec.Clusters = nil
			stale.Status.Phase = auth.ProjectTerminating
			if _, err := update(tc.store(projects, status), stale); !apierrors.IsConflict(err) {
				t.Errorf("error = %v, want a Conflict", err)
			}
		})
	}
}

func TestListSelectors(t *testing.T) {
	projects, status := newStorage(t, sharedEtcdURL)
	for _, name := range []string{"alpha", "beta", "gamma"} {
		p := newProject(name)
		if name != "gamma" {
			p.Labels = map[string]string{"tier": "gold"}
		}
		created := create(t, projects, p)
		if name == "beta" {
			created.Status.Phase = auth.ProjectTerminating
			mustUpdate(t, status, created)
		}
	}

	tests := []struct {
		name          string
		labelSelector string
		fieldSelector string
		want          []string
	}{
		{name: "everything", want: []string{"alpha", "beta", "gamma"}},
		{name: "active", fieldSelector: "status.phase=Active", want: []string{"alpha", "gamma"}},
		{name: "terminating", fieldSelector: "status.phase=Terminating", want: []string{"beta"}},
		{name: "not active", fieldSelector: "status.phase!=Active", want: []string{"beta"}},
		{name: "by name", fieldSelector: "metadata.name=gamma", want: []string{"gamma"}},
		{name: "by name and phase", fieldSelector: "metadata.name=beta,status.phase=Active", want: nil},
		{name: "label", labelSelector: "tier=gold", want: []string{"alpha", "beta"}},
		{name: "label absent", labelSelector: "!tier", want: []string{"gamma"}},
		{name: "label and field", labelSelector: "tier=gold", fieldSelector: "status.phase=Active", want: []string{"alpha"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labelSelector, err := labels.Parse(tc.labelSelector)
			if err != nil {
				t.Fatal(err)
			}
			fieldSelector, err := fields.ParseSelector(tc.fieldSelector)
			if err != nil {
				t.Fatal(err)
			}
			names, _ := listNames(t, projects, &metainternalversion.ListOptions{LabelSelector: labelSelector, FieldSelector: fieldSelector})
			if !slices.Equal(names, tc.want) {
				t.Errorf("listed %v, want %v", names, tc.want)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	projects, _ := newStorage(t, sharedEtcdURL)
	for i := 1; i <= 5; i++ {
		create(t, projects, newProject(fmt.Sprintf("project-%d", i)))
	}

	tests := []struct {
		limit int64
		want  [][]string
	}{
		{limit: 2, want: [][]string{{"project-1", "project-2"}, {"project-3", "project-4"}, {"project-5"}}},
		{limit: 5, want: [][]string{{"project-1", "project-2", "project-3", "project-4", "project-5"}}},
		{limit: 0, want: [][]string{{"project-1", "project-2", "project-3", "project-4", "project-5"}}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			var pages [][]string
			options := &metainternalversion.ListOptions{Limit: tc.limit}
			for {
				names, list := listNames(t, projects, options)
				pages = append(pages, names)
				if list.Continue == "" {
					break
				}
				if len(pages) > len(tc.want) {
					t.Fatalf("more pages than the %d expected: %v", len(tc.want), pages)
				}
				options = &metainternalversion.ListOptions{Limit: tc.limit, Continue: list.Continue}
			}
			if !slices.EqualFunc(pages, tc.want, slices.Equal) {
				t.Errorf("pages = %v, want %v", pages, tc.want)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	projects, status := newStorage(t, sharedEtcdURL)
	_, list := listNames(t, projects, &metainternalversion.ListOptions{})
	w, err := projects.Watch(requestContext(), &metainternalversion.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watching: %v", err)
	}
	defer w.Stop()

	created := create(t, projects, newProject("payments"))
	created.Status.Phase = auth.ProjectTerminating
	updated := mustUpdate(t, status, created)
	if _, _, err := projects.Delete(requestContext(), "payments", rest.ValidateAllObjectFunc, &metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting: %v", err)
	}

	want := []struct {
		eventType watch.EventType
		phase     auth.ProjectPhase
	}{
		{watch.Added, auth.ProjectActive},
		{watch.Modified, auth.ProjectTerminating},
		{watch.Deleted, auth.ProjectTerminating},
	}
	for _, next := range want {
		select {
		case event, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed while waiting for %s", next.eventType)
			}
			p, isProject := event.Object.(*auth.Project)
			if event.Type != next.eventType || !isProject || p.Name != "payments" || p.Status.Phase != next.phase {
				t.Fatalf("event = %s %#v, want %s of payments in phase %s", event.Type, event.Object, next.eventType, next.phase)
			}
			if event.Type == watch.Modified && p.ResourceVersion != updated.ResourceVersion {
				t.Errorf("modified event at resourceVersion %s, want %s", p.ResourceVersion, updated.ResourceVersion)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s event within 30s", next.eventType)
		}
	}
}

func TestDelete(t *testing.T) {
	projects, _ := newStorage(t, sharedEtcdURL)
	create(t, projects, newProject("payments"))
	ctx := requestContext()

	obj, immediate, err := projects.Delete(ctx, "payments", rest.ValidateAllObjectFunc, &metav1.DeleteOptions{})
	if err != nil {
		t.Fatalf("deleting: %v", err)
	}
	// Projects carry no finalizers, so nothing holds the deletion back.
	if !immediate {
		t.Errorf("deletion not immediate: %#v", obj)
	}
	if _, err := projects.Get(ctx, "payments", &metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: error = %v, want NotFound", err)
	}
	if _, _, err := projects.Delete(ctx, "payments", rest.ValidateAllObjectFunc, &metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: error = %v, want NotFound", err)
	}
}

func TestDataSurvivesEtcdRestart(t *testing.T) {
	dir := t.TempDir()
	first, err := embeddedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	projects, status := newStorage(t, first.ClientURL)
	created := create(t, projects, newProject("payments"))
	created.Status = terminatingStatus()
	before := mustUpdate(t, status, created)
	projects.Destroy()
	first.Stop()

	second, err := embeddedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatalf("restarting etcd: %v", err)
	}
	t.Cleanup(second.Stop)
	projects, _ = newStorage(t, second.ClientURL)
	after := get(t, projects, "payments")
	if !apiequality.Semantic.DeepEqual(after, before) {
		t.Errorf("after restart:\n%#v\nwant\n%#v", after, before)
	}
}
