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

package templateapplication_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic/dynamicinformer"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/controller/templateapplication"
	"github.com/acp-archon/archon/pkg/templateapp"
)

const namespace = "shop"

var signer = templateapp.NewSignerWithKey([]byte("0123456789abcdef0123456789abcdef"))

var developer = templateapp.Requester{Username: "dev"}

const manifest = "---\n# Source: web/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n"

// fakeReleases keeps releases in memory and records the actions asked.
type fakeReleases struct {
	mu      sync.Mutex
	history map[string][]*release.Release
	actions []string
}

func (f *fakeReleases) did(action string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, action)
}

func (f *fakeReleases) done() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakeReleases) History(_, name string) ([]*release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rel := range f.history[name] {
		if rel.Labels[templateapp.SealLabel] == "forged" {
			return nil, &templateapp.UnsealedError{Name: rel.Name, Version: rel.Version, Why: "is not sealed by archon"}
		}
	}
	return append([]*release.Release(nil), f.history[name]...), nil
}

func (f *fakeReleases) MarkFailed(rel *release.Release) error {
	f.did("mark-failed")
	rel.Info.Status = release.StatusFailed
	return nil
}

func (f *fakeReleases) Render(_ context.Context, a templateapp.Action) (*release.Release, error) {
	return &release.Release{Name: a.Name, Manifest: manifest}, nil
}

func (f *fakeReleases) add(a templateapp.Action) *release.Release {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rel := range f.history[a.Name] {
		if rel.Info.Status == release.StatusDeployed {
			rel.Info.Status = release.StatusSuperseded
		}
	}
	labels := map[string]string{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	rel := &release.Release{Name: a.Name, Namespace: a.Namespace, Version: len(f.history[a.Name]) + 1, Labels: labels, Manifest: manifest,
		Info: &release.Info{Status: release.StatusDeployed}, Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}}}
	f.history[a.Name] = append(f.history[a.Name], rel)
	return rel
}

func (f *fakeReleases) Install(_ context.Context, a templateapp.Action, _ bool) (*release.Release, error) {
	f.did("install as " + a.As.Username)
	return f.add(a), nil
}

func (f *fakeReleases) Upgrade(_ context.Context, a templateapp.Action) (*release.Release, error) {
	f.did("upgrade as " + a.As.Username)
	return f.add(a), nil
}

func (f *fakeReleases) Rollback(as templateapp.Requester, namespace, name string, revision int) error {
	f.did(fmt.Sprintf("rollback to %d as %s", revision, as.Username))
	f.mu.Lock()
	target := f.history[name][revision-1]
	f.mu.Unlock()
	f.add(templateapp.Action{Name: name, Namespace: namespace, Labels: target.Labels})
	return nil
}

func (f *fakeReleases) RemoveFailedInstall(as templateapp.Requester, _, _, _ string) error {
	f.did("remove failed install as " + as.Username)
	return nil
}

func (f *fakeReleases) Uninstall(as templateapp.Requester, _, name string) error {
	f.did("uninstall as " + as.Username)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.history, name)
	return nil
}

func (f *fakeReleases) Forget(as templateapp.Requester, _, name string) error {
	f.did("forget as " + as.Username)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.history, name)
	return nil
}

type fakeCharts struct{}

func (fakeCharts) Load(_ context.Context, _ string, t templateapp.Template, _ templateapp.Requester) (*chart.Chart, error) {
	if t.Version == "9.9.9" {
		return nil, templateapp.Fail(templateapp.ReasonChartLoadFailed, "chart team/web has no version 9.9.9")
	}
	return &chart.Chart{Metadata: &chart.Metadata{Name: t.Chart, Version: t.Version, APIVersion: "v2"}}, nil
}

// fakeChecker refuses everything to a requester named "refused".
type fakeChecker struct{}

func (fakeChecker) Check(_ context.Context, as templateapp.Requester, _ string, _, _, _ []*unstructured.Unstructured) error {
	if as.Username == "refused" {
		return templateapp.Fail(templateapp.ReasonPermissionCheckFailed, "user refused may not create configmaps")
	}
	return nil
}

type fakeRecorder struct {
	mu     sync.Mutex
	causes []string
}

func (r *fakeRecorder) Record(_ context.Context, s application.Snapshot, _ bool) (application.Recorded, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.causes = append(r.causes, s.ChangeCause)
	return application.Recorded{Revision: int64(len(r.causes))}, nil
}

type fixture struct {
	client   *dynamicfake.FakeDynamicClient
	releases *fakeReleases
	recorder *fakeRecorder
}

func templateApplication(t *testing.T, name, version, values string, as templateapp.Requester, finalizers ...string) *unstructured.Unstructured {
	t.Helper()
	signed, err := signer.Sign(context.Background(), namespace, name, as)
	if err != nil {
		t.Fatal(err)
	}
	app := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "app.k8s.io/v1beta1", "kind": "Application",
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{templateapp.NameLabel: name}}}}}
	app.SetName(name)
	app.SetNamespace(namespace)
	app.SetFinalizers(finalizers)
	app.SetAnnotations(map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: version,
		templateapp.ValuesAnnotation: values, templateapp.RequesterAnnotation: signed})
	return app
}

func start(t *testing.T, releases map[string][]*release.Release, apps ...runtime.Object) fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := fixture{
		client: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
			map[schema.GroupVersionResource]string{application.Resource: "ApplicationList"}, apps...),
		releases: &fakeReleases{history: releases},
		recorder: &fakeRecorder{},
	}
	applications := dynamicinformer.NewDynamicSharedInformerFactory(f.client, 0)
	c, err := templateapplication.New(f.client, applications, f.releases, fakeCharts{}, fakeChecker{}, f.recorder, signer)
	if err != nil {
		t.Fatal(err)
	}
	applications.Start(ctx.Done())
	go c.Run(ctx, 2)
	return f
}

// waitFor waits until the application's condition has status and reason.
func (f fixture) waitFor(t *testing.T, name, condition string, status metav1.ConditionStatus, reason string) *unstructured.Unstructured {
	t.Helper()
	var app *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		if app, err = f.client.Resource(application.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(application.ConditionsOf(app), condition)
		return c != nil && c.Status == status && c.Reason == reason, nil
	})
	if err != nil {
		t.Fatalf("application %s: %s not %s (%s): %v\n%v", name, condition, status, reason, err, app)
	}
	return app
}

func deployed(t *testing.T, app *unstructured.Unstructured, as templateapp.Requester, status release.Status) *release.Release {
	t.Helper()
	tmpl, err := templateapp.TemplateOf(app)
	if err != nil {
		t.Fatal(err)
	}
	return &release.Release{Name: app.GetName(), Namespace: namespace, Version: 1, Manifest: manifest,
		Labels: map[string]string{templateapp.DesiredLabel: tmpl.Hash(), templateapp.RequesterLabel: as.Hash()},
		Info:   &release.Info{Status: status, Description: "Install complete"}, Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}}}
}

func TestInstallsAsTheRequesterAndAddsItsFinalizerFirst(t *testing.T) {
	f := start(t, map[string][]*release.Release{}, templateApplication(t, "web", "1.0.0", `{"a":1}`, developer))
	app := f.waitFor(t, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
	if !slices.Contains(app.GetFinalizers(), templateapp.Finalizer) {
		t.Errorf("finalizers %v", app.GetFinalizers())
	}
	if got := f.releases.done(); !slices.Equal(got, []string{"install as dev"}) {
		t.Errorf("actions %v", got)
	}
	kinds, _, _ := unstructured.NestedSlice(app.Object, "spec", "componentKinds")
	if len(kinds) != 1 || kinds[0].(map[string]any)["group"] != "core" || kinds[0].(map[string]any)["kind"] != "ConfigMap" {
		t.Errorf("componentKinds %v", kinds)
	}
	if len(f.recorder.causes) != 1 || f.recorder.causes[0] != "install chart team/web 1.0.0" {
		t.Errorf("revisions %v", f.recorder.causes)
	}
}

func TestNothingChangedIsNoAction(t *testing.T) {
	app := templateApplication(t, "web", "1.0.0", `{"a":1}`, developer, templateapp.Finalizer)
	failedApp := templateApplication(t, "failed", "1.0.0", `{}`, developer, templateapp.Finalizer)
	failed := deployed(t, failedApp, developer, release.StatusFailed)
	failed.Info.Description = "Release \"failed\" failed: admission webhook refused"
	f := start(t, map[string][]*release.Release{"web": {deployed(t, app, developer, release.StatusDeployed)}, "failed": {failed}}, app, failedApp)
	f.waitFor(t, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
	f.waitFor(t, "failed", templateapp.ConditionSynced, metav1.ConditionFalse, templateapp.ReasonChartSyncFailed)
	time.Sleep(100 * time.Millisecond)
	if got := f.releases.done(); len(got) != 0 {
		t.Errorf("actions on applications that did not change: %v", got)
	}
}

func TestChangesUpgradeOrRollBack(t *testing.T) {
	old := templateApplication(t, "web", "1.0.0", `{"a":1}`, developer, templateapp.Finalizer)
	first := deployed(t, old, developer, release.StatusSuperseded)
	current := templateApplication(t, "web", "1.0.0", `{"a":2}`, developer, templateapp.Finalizer)
	second := deployed(t, current, developer, release.StatusDeployed)
	second.Version = 2
	// The application asks for the first revision's values again, as
	// another user: a helm rollback as them.
	back := templateApplication(t, "web", "1.0.0", `{ "a": 1 }`, templateapp.Requester{Username: "ops"}, templateapp.Finalizer)
	// Another one asks for new values: an upgrade.
	upApp := templateApplication(t, "up", "1.0.0", `{"a":3}`, developer, templateapp.Finalizer)
	upFirst := deployed(t, old, developer, release.StatusDeployed)
	upFirst.Name = "up"
	// A revision left pending by an action archon was stopped in is
	// marked failed and the action runs again.
	pendingApp := templateApplication(t, "pending", "1.0.0", `{}`, developer, templateapp.Finalizer)
	pending := deployed(t, pendingApp, developer, release.StatusPendingInstall)
	f := start(t, map[string][]*release.Release{"web": {first, second}, "up": {upFirst}, "pending": {pending}}, back, upApp, pendingApp)
	f.waitFor(t, "web", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
	f.waitFor(t, "up", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
	f.waitFor(t, "pending", templateapp.ConditionSynced, metav1.ConditionTrue, templateapp.ReasonChartSynced)
	got := f.releases.done()
	for _, want := range []string{"rollback to 1 as ops", "upgrade as dev", "mark-failed", "install as dev"} {
		if !slices.Contains(got, want) {
			t.Errorf("actions %v, want %q among them", got, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("actions %v, want 4", got)
	}
}

// TestRecordsArchonDidNotSealStopIt: a record of the release archon did
// not seal (forged by someone who may write Secrets, or left pending by an
// action archon was stopped in) stops every action on it, until it goes.
func TestRecordsArchonDidNotSealStopIt(t *testing.T) {
	earlier := templateApplication(t, "web", "1.0.0", `{"a":1}`, developer, templateapp.Finalizer)
	forged := deployed(t, earlier, developer, release.StatusSuperseded)
	forged.Labels[templateapp.SealLabel] = "forged"
	current := templateApplication(t, "web", "1.0.0", `{"a":2}`, developer, templateapp.Finalizer)
	second := deployed(t, current, developer, release.StatusDeployed)
	second.Version = 2
	back := templateApplication(t, "web", "1.0.0", `{"a":1}`, templateapp.Requester{Username: "admin"}, templateapp.Finalizer)
	f := start(t, map[string][]*release.Release{"web": {forged, second}}, back)
	app := f.waitFor(t, "web", templateapp.ConditionSynced, metav1.ConditionFalse, templateapp.ReasonChartSyncFailed)
	if c := meta.FindStatusCondition(application.ConditionsOf(app), templateapp.ConditionSynced); !strings.Contains(c.Message, "sh.helm.release.v1.web.v1") {
		t.Errorf("message %q", c.Message)
	}
	time.Sleep(100 * time.Millisecond)
	if got := f.releases.done(); len(got) != 0 {
		t.Errorf("actions on records archon did not seal: %v", got)
	}
}

func TestFailuresAreReportedAndNothingInstalled(t *testing.T) {
	refused := templateApplication(t, "refused", "1.0.0", `{}`, templateapp.Requester{Username: "refused"}, templateapp.Finalizer)
	missing := templateApplication(t, "missing", "9.9.9", `{}`, developer, templateapp.Finalizer)
	forged := templateApplication(t, "forged", "1.0.0", `{}`, developer, templateapp.Finalizer)
	annotations := forged.GetAnnotations()
	annotations[templateapp.RequesterAnnotation] = `{"username":"system:admin","groups":["system:masters"]}`
	forged.SetAnnotations(annotations)
	f := start(t, map[string][]*release.Release{}, refused, missing, forged)
	f.waitFor(t, "refused", templateapp.ConditionValidated, metav1.ConditionFalse, templateapp.ReasonPermissionCheckFailed)
	f.waitFor(t, "refused", templateapp.ConditionInitialized, metav1.ConditionTrue, templateapp.ReasonChartLoaded)
	f.waitFor(t, "missing", templateapp.ConditionInitialized, metav1.ConditionFalse, templateapp.ReasonChartLoadFailed)
	f.waitFor(t, "missing", templateapp.ConditionValidated, metav1.ConditionFalse, templateapp.ReasonChartLoadFailed)
	f.waitFor(t, "forged", templateapp.ConditionInitialized, metav1.ConditionFalse, templateapp.ReasonInitializeFailed)
	if got := f.releases.done(); len(got) != 0 {
		t.Errorf("actions %v", got)
	}
}

func TestDeleteUninstallsAndDetachForgets(t *testing.T) {
	gone := templateApplication(t, "gone", "1.0.0", `{}`, developer, templateapp.Finalizer, "other")
	now := metav1.Now()
	gone.SetDeletionTimestamp(&now)
	detached := templateApplication(t, "detached", "1.0.0", `{}`, developer, templateapp.Finalizer)
	releases := map[string][]*release.Release{"gone": {deployed(t, gone, developer, release.StatusDeployed)},
		"detached": {deployed(t, detached, developer, release.StatusDeployed)}}
	annotations := detached.GetAnnotations()
	for _, key := range templateapp.ChartAnnotations {
		delete(annotations, key)
	}
	detached.SetAnnotations(annotations)
	f := start(t, releases, gone, detached)
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range []string{"gone", "detached"} {
			app, err := f.client.Resource(application.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || slices.Contains(app.GetFinalizers(), templateapp.Finalizer) {
				return false, err
			}
			if _, ok := app.GetAnnotations()[templateapp.RequesterAnnotation]; ok && name == "detached" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.releases.done()
	if !slices.Contains(got, "uninstall as dev") || !slices.Contains(got, "forget as dev") || len(got) != 2 {
		t.Errorf("actions %v", got)
	}
}
