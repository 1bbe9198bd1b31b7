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

// Package templateapplication installs, upgrades, rolls back, detaches and
// uninstalls the charts template applications name, with helm's library,
// as each application's requester; it reports its work in the
// Initialized, Validated and Synced conditions.
package templateapplication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	"github.com/acp-archon/archon/pkg/templateapp"
)

// Releases are helm's actions on releases (templateapp.Helm).
type Releases interface {
	History(namespace, name string) ([]*release.Release, error)
	MarkFailed(rel *release.Release) error
	Render(ctx context.Context, a templateapp.Action) (*release.Release, error)
	Install(ctx context.Context, a templateapp.Action, replace bool) (*release.Release, error)
	Upgrade(ctx context.Context, a templateapp.Action) (*release.Release, error)
	Rollback(as templateapp.Requester, namespace, name string, revision int) error
	Uninstall(as templateapp.Requester, namespace, name string) error
	RemoveFailedInstall(as templateapp.Requester, namespace, name, why string) error
	Forget(as templateapp.Requester, namespace, name string) error
}

// Charts download the chart of a template (templateapp.Charts).
type Charts interface {
	Load(ctx context.Context, namespace string, t templateapp.Template, as templateapp.Requester) (*chart.Chart, error)
}

// Checker checks what a release would do as the requester
// (templateapp.Checker).
type Checker interface {
	Check(ctx context.Context, as templateapp.Requester, namespace string, hooks, objects, current []*unstructured.Unstructured) error
}

// Recorder records an application's revisions (application.Recorder).
type Recorder interface {
	Record(ctx context.Context, s application.Snapshot, dryRun bool) (application.Recorded, error)
}

// retryLater is how soon a failure that may pass without a change of
// the application is tried again: a repository synchronizing, a version
// uploaded, a record archon did not write deleted.
const retryLater = time.Minute

// Controller acts on template applications, one at a time each.
type Controller struct {
	client       dynamic.Interface
	applications cache.SharedIndexInformer
	releases     Releases
	charts       Charts
	checker      Checker
	recorder     Recorder
	signer       *templateapp.Signer
	queue        *keyqueue.Queue
}

// New returns the controller, wired to the applications of the factory
// (call it before starting the factory); client writes applications and
// their status with archon's rights, everything else acts as each
// application's requester.
func New(client dynamic.Interface, applications dynamicinformer.DynamicSharedInformerFactory, releases Releases, charts Charts,
	checker Checker, recorder Recorder, signer *templateapp.Signer) (*Controller, error) {
	c := &Controller{client: client, applications: applications.ForResource(application.Resource).Informer(),
		releases: releases, charts: charts, checker: checker, recorder: recorder, signer: signer}
	c.queue = keyqueue.New("template-applications", c.sync)
	if err := c.queue.Watch(c.applications, templateKey); err != nil {
		return nil, err
	}
	return c, nil
}

// Run acts on applications with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

// templateKey leads to applications that are, or were, template
// applications.
func templateKey(obj any) []string {
	app, ok := obj.(*unstructured.Unstructured)
	if !ok || (!templateapp.IsTemplate(app) && !slices.Contains(app.GetFinalizers(), templateapp.Finalizer)) {
		return nil
	}
	if key, err := cache.MetaNamespaceKeyFunc(app); err == nil {
		return []string{key}
	}
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	obj, exists, err := c.applications.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	app := obj.(*unstructured.Unstructured)
	finalized := slices.Contains(app.GetFinalizers(), templateapp.Finalizer)
	switch {
	case app.GetDeletionTimestamp() != nil:
		if !finalized {
			return nil
		}
		return c.uninstall(ctx, app)
	case !templateapp.IsTemplate(app):
		if !finalized {
			return nil
		}
		return c.detach(ctx, app)
	case !finalized:
		// The finalizer first: an application deleted from now on
		// keeps until its release is gone. Its update brings it back.
		return c.patch(ctx, app, map[string]any{"finalizers": append(app.GetFinalizers(), templateapp.Finalizer)}, nil)
	}
	err = c.reconcile(ctx, app)
	if failure, ok := templateapp.AsFailure(err); ok {
		if failure.Retry {
			c.queue.AddAfter(key, retryLater)
		}
		return c.report(ctx, app, failure, "")
	}
	return err
}

// reconcile makes the release match the template, or says why it cannot
// in a *templateapp.Failure.
func (c *Controller) reconcile(ctx context.Context, app *unstructured.Unstructured) error {
	t, err := templateapp.TemplateOf(app)
	if err != nil {
		return templateapp.Fail(templateapp.ReasonInitializeFailed, err.Error())
	}
	as, err := c.requesterOf(ctx, app)
	if err != nil {
		return err
	}
	if len(app.GetName()) > templateapp.MaxReleaseName {
		return templateapp.Fail(templateapp.ReasonInitializeFailed, fmt.Sprintf(
			"a template application's name is its helm release's, at most %d characters; %s has %d", templateapp.MaxReleaseName, app.GetName(), len(app.GetName())))
	}
	labels, err := c.objectLabels(ctx, app)
	if err != nil || labels == nil {
		return err // a selector was just written: the update brings the application back
	}
	namespace, name := app.GetNamespace(), app.GetName()
	history, err := c.history(namespace, name)
	if err != nil {
		return err
	}
	var last *release.Release
	if n := len(history); n > 0 {
		last = history[n-1]
	}
	if last != nil && last.Labels[templateapp.DesiredLabel] == t.Hash() {
		switch status := last.Info.Status; {
		case status == release.StatusDeployed:
			return c.synced(ctx, app, last)
		case status.IsPending():
			// Left pending by an action archon was stopped in (the queue
			// runs one action of a key at a time): failed, and done again.
			if err := c.releases.MarkFailed(last); err != nil {
				return err
			}
		case last.Labels[templateapp.RequesterLabel] == as.Hash():
			// Failed as asked, by the same requester: acting again would
			// fail again, and add a revision each resync.
			return templateapp.Fail(templateapp.ReasonChartSyncFailed, fmt.Sprintf(
				"revision %d of the release %s: %s; change the chart annotations (or have someone else do it) to try again", last.Version, last.Info.Status, last.Info.Description))
		}
	}
	a := templateapp.Action{As: as, Namespace: namespace, Name: name, Values: t.Values, ObjectLabels: labels,
		Labels: map[string]string{templateapp.DesiredLabel: t.Hash(), templateapp.RequesterLabel: as.Hash()}}
	deployed := lastDeployed(history)
	var current []*unstructured.Unstructured
	if deployed != nil {
		if _, current, err = templateapp.Objects(deployed); err != nil {
			return err
		}
	}
	if target := rollbackTarget(history, t.Hash()); target != nil && deployed != nil {
		return c.rollback(ctx, app, a, t, target, current)
	}
	loaded, err := c.charts.Load(ctx, namespace, t, as)
	if err != nil {
		return err
	}
	a.Chart, a.Upgrade = loaded, deployed != nil
	if crds := loaded.CRDObjects(); len(crds) > 0 {
		return templateapp.Fail(templateapp.ReasonConsistentNamespaceCheckFailed, fmt.Sprintf(
			"chart %s %s holds CustomResourceDefinitions (%s), which are cluster-scoped: a platform administrator must install them",
			t.Source(), t.Version, crds[0].Filename))
	}
	if err := action.CheckDependencies(loaded, loaded.Metadata.Dependencies); err != nil {
		return templateapp.Fail(templateapp.ReasonDependenciesCheckFailed, fmt.Sprintf("chart %s %s: %v", t.Source(), t.Version, err))
	}
	if err := chartutil.ValidateAgainstSchema(loaded, t.Values); err != nil {
		return templateapp.Fail(templateapp.ReasonDependenciesCheckFailed, fmt.Sprintf(
			"the values in annotation %s do not satisfy the values.schema.json of %s %s: %v", templateapp.ValuesAnnotation, t.Source(), t.Version, err))
	}
	rendered, err := c.releases.Render(ctx, a)
	if apierrors.IsForbidden(err) {
		return templateapp.Fail(templateapp.ReasonPermissionCheckFailed, fmt.Sprintf("rendering %s %s as user %s: %s", t.Source(), t.Version, as.Username, errorText(err)))
	}
	if err != nil {
		return templateapp.Fail(templateapp.ReasonDependenciesCheckFailed, fmt.Sprintf("rendering %s %s with the values: %s", t.Source(), t.Version, errorText(err)))
	}
	hooks, objects, err := templateapp.Objects(rendered)
	if err != nil {
		return templateapp.Fail(templateapp.ReasonDependenciesCheckFailed, fmt.Sprintf("reading what %s %s renders: %v", t.Source(), t.Version, err))
	}
	if err := c.checker.Check(ctx, as, namespace, hooks, objects, current); err != nil {
		return err
	}
	if err := c.addKinds(ctx, app, objects); err != nil {
		return err
	}
	var rel *release.Release
	cause := fmt.Sprintf("upgrade to chart %s %s", t.Source(), t.Version)
	if deployed == nil {
		cause = fmt.Sprintf("install chart %s %s", t.Source(), t.Version)
		rel, err = c.releases.Install(ctx, a, last != nil)
		if err != nil {
			// Nothing half-installed: what the install created goes,
			// its record stays (uninstalled) to say why.
			why := fmt.Sprintf("installing %s %s: %v; archon removed what the install had created", t.Source(), t.Version, errorText(err))
			if undo := c.releases.RemoveFailedInstall(as, namespace, name, why); undo != nil {
				klog.FromContext(ctx).Error(undo, "Removing a failed install", "application", klog.KObj(app))
			}
			return templateapp.Fail(templateapp.ReasonChartSyncFailed, why)
		}
	} else if rel, err = c.releases.Upgrade(ctx, a); err != nil {
		return templateapp.Fail(templateapp.ReasonChartSyncFailed, fmt.Sprintf("upgrading to %s %s: %v", t.Source(), t.Version, err))
	}
	c.record(ctx, app, as, objects, cause)
	return c.synced(ctx, app, rel)
}

// rollback brings the release back to target, an earlier revision made
// for the same template: its rendered objects, whatever became of the
// chart since (a deleted version included).
func (c *Controller) rollback(ctx context.Context, app *unstructured.Unstructured, a templateapp.Action, t templateapp.Template,
	target *release.Release, current []*unstructured.Unstructured) error {
	hooks, objects, err := templateapp.Objects(target)
	if err != nil {
		return err
	}
	if err := c.checker.Check(ctx, a.As, a.Namespace, hooks, objects, current); err != nil {
		return err
	}
	if err := c.addKinds(ctx, app, objects); err != nil {
		return err
	}
	if err := c.releases.Rollback(a.As, a.Namespace, a.Name, target.Version); err != nil {
		return templateapp.Fail(templateapp.ReasonChartSyncFailed, fmt.Sprintf("rolling back to revision %d of the release: %v", target.Version, err))
	}
	history, err := c.history(a.Namespace, a.Name)
	if err != nil || len(history) == 0 {
		return err
	}
	c.record(ctx, app, a.As, objects, fmt.Sprintf("rollback to chart %s %s (helm revision %d)", t.Source(), t.Version, target.Version))
	return c.synced(ctx, app, history[len(history)-1])
}

// uninstall uninstalls a deleted application's release as its requester,
// then lets the application go.
func (c *Controller) uninstall(ctx context.Context, app *unstructured.Unstructured) error {
	namespace, name := app.GetNamespace(), app.GetName()
	history, err := c.history(namespace, name)
	if err != nil {
		return c.reportAndRetry(ctx, app, err)
	}
	if len(history) > 0 {
		as, err := c.requesterOf(ctx, app)
		if err != nil {
			return c.report(ctx, app, asFailure(err), "")
		}
		if deployed := lastDeployed(history); deployed != nil {
			hooks, objects, err := templateapp.Objects(deployed)
			if err != nil {
				return err
			}
			// helm deletes what it may and drops the record anyway: check
			// first, so that nothing is left behind unnamed.
			if err := c.checker.Check(ctx, as, namespace, hooks, nil, objects); err != nil {
				return c.reportAndRetry(ctx, app, err)
			}
		}
		if err := c.releases.Uninstall(as, namespace, name); err != nil {
			return c.reportAndRetry(ctx, app, templateapp.Fail(templateapp.ReasonChartSyncFailed, fmt.Sprintf("uninstalling the release: %v", err)))
		}
	}
	return c.patch(ctx, app, map[string]any{"finalizers": without(app.GetFinalizers(), templateapp.Finalizer)}, nil)
}

// detach turns an application whose chart annotations were taken off
// into a native one: helm's records of the release go (as the requester,
// who took them off), its objects stay, selected as before.
func (c *Controller) detach(ctx context.Context, app *unstructured.Unstructured) error {
	namespace, name := app.GetNamespace(), app.GetName()
	as, err := c.requesterOf(ctx, app)
	if err != nil {
		return c.report(ctx, app, asFailure(err), "")
	}
	// Records archon did not seal are deleted too, unread: detaching is
	// how an application gets rid of them.
	history, err := c.releases.History(namespace, name)
	if _, unsealed := templateapp.AsUnsealed(err); err != nil && !unsealed {
		return err
	}
	if len(history) > 0 || err != nil {
		if err := c.releases.Forget(as, namespace, name); err != nil {
			return c.report(ctx, app, templateapp.Fail(templateapp.ReasonChartSyncFailed, fmt.Sprintf("detaching from the template: %v", err)), "")
		}
	}
	if deployed := lastDeployed(history); deployed != nil {
		if _, objects, err := templateapp.Objects(deployed); err == nil {
			c.record(ctx, app, as, objects, fmt.Sprintf("detach from chart %s %s", deployed.Chart.Metadata.Name, deployed.Chart.Metadata.Version))
		}
	}
	// The conditions go first, while the finalizer brings the
	// application back here: its update does, for the finalizer.
	conditions := application.ConditionsOf(app)
	templateapp.Forget(&conditions)
	if !apiequality.Semantic.DeepEqual(conditions, application.ConditionsOf(app)) {
		return c.writeConditions(ctx, app, conditions)
	}
	annotations := map[string]any{templateapp.RequesterAnnotation: nil}
	return c.patch(ctx, app, map[string]any{"finalizers": without(app.GetFinalizers(), templateapp.Finalizer), "annotations": annotations}, nil)
}

// objectLabels are the labels every object of the chart gets: the
// application's selector's. An application without a selector gets one
// first (nil labels then: the update brings it back).
func (c *Controller) objectLabels(ctx context.Context, app *unstructured.Unstructured) (map[string]string, error) {
	spec, err := application.SpecOf(app)
	if err != nil {
		return nil, templateapp.Fail(templateapp.ReasonInitializeFailed, fmt.Sprintf("the application's spec cannot be read: %v", err))
	}
	if spec.Selector == nil || (len(spec.Selector.MatchLabels) == 0 && len(spec.Selector.MatchExpressions) == 0) {
		selector := map[string]any{"matchLabels": map[string]any{templateapp.NameLabel: app.GetName()}}
		return nil, c.patch(ctx, app, nil, map[string]any{"selector": selector})
	}
	if len(spec.Selector.MatchExpressions) > 0 || len(spec.Selector.MatchLabels) == 0 {
		return nil, templateapp.Fail(templateapp.ReasonInitializeFailed,
			"spec.selector of a template application must be matchLabels only: archon sets those labels on every object of the chart")
	}
	return spec.Selector.MatchLabels, nil
}

// addKinds adds the kinds of the chart's objects to spec.componentKinds,
// so that the application's status counts them.
func (c *Controller) addKinds(ctx context.Context, app *unstructured.Unstructured, objects []*unstructured.Unstructured) error {
	spec, err := application.SpecOf(app)
	if err != nil {
		return err
	}
	kinds := spec.ComponentKinds
	added := false
	for _, kind := range templateapp.Kinds(objects) {
		if !slices.Contains(kinds, kind) {
			kinds, added = append(kinds, kind), true
		}
	}
	if !added {
		return nil
	}
	var written []any
	for _, kind := range kinds {
		group := kind.Group
		if group == "" {
			group = application.CoreGroup
		}
		written = append(written, map[string]any{"group": group, "kind": kind.Kind})
	}
	return c.patch(ctx, app, nil, map[string]any{"componentKinds": written})
}

// errorText shortens helm's error for a condition message.
func errorText(err error) string {
	text := strings.TrimSpace(err.Error())
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "…"
	}
	return text
}

// maxErrorText bounds helm's error in a condition: kube-apiserver's may
// list every object refused.
const maxErrorText = 2048

// record records a revision of the application after helm acted; a
// failure is logged, since the release is what it is.
func (c *Controller) record(ctx context.Context, app *unstructured.Unstructured, as templateapp.Requester, objects []*unstructured.Unstructured, cause string) {
	if _, err := c.recorder.Record(ctx, application.Snapshot{Application: app, Components: objects, User: as.Username, ChangeCause: cause}, false); err != nil {
		klog.FromContext(ctx).Error(err, "Recording a revision", "application", klog.KObj(app), "cause", cause)
	}
}

// synced reports the release deployed as asked.
func (c *Controller) synced(ctx context.Context, app *unstructured.Unstructured, rel *release.Release) error {
	if err := c.addKindsOf(ctx, app, rel); err != nil {
		return err
	}
	return c.report(ctx, app, nil, fmt.Sprintf("chart %s %s deployed as revision %d of the release",
		rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Version))
}

func (c *Controller) addKindsOf(ctx context.Context, app *unstructured.Unstructured, rel *release.Release) error {
	_, objects, err := templateapp.Objects(rel)
	if err != nil {
		return err
	}
	return c.addKinds(ctx, app, objects)
}

// reportAndRetry reports a failure of an uninstall and returns it, so
// that the uninstall is tried again, with backoff: the application stays
// until its release is gone.
func (c *Controller) reportAndRetry(ctx context.Context, app *unstructured.Unstructured, err error) error {
	failure, ok := templateapp.AsFailure(err)
	if !ok {
		return err
	}
	if reportErr := c.report(ctx, app, failure, ""); reportErr != nil {
		return reportErr
	}
	return failure
}

// report writes the three conditions: the failure, or all true.
func (c *Controller) report(ctx context.Context, app *unstructured.Unstructured, failure *templateapp.Failure, message string) error {
	conditions := application.ConditionsOf(app)
	templateapp.Report(&conditions, app.GetGeneration(), failure, message)
	return c.writeConditions(ctx, app, conditions)
}

func (c *Controller) writeConditions(ctx context.Context, app *unstructured.Unstructured, conditions []metav1.Condition) error {
	if apiequality.Semantic.DeepEqual(conditions, application.ConditionsOf(app)) {
		return nil
	}
	var raw []any
	for i := range conditions {
		fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&conditions[i])
		if err != nil {
			return err
		}
		raw = append(raw, fields)
	}
	// A merge patch of the status at the version read: the conditions
	// other controllers write (Ready) are in raw as read, and a write
	// since is a conflict, tried again.
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": app.GetResourceVersion()},
		"status": map[string]any{"conditions": raw}})
	if err != nil {
		return err
	}
	_, err = c.client.Resource(application.Resource).Namespace(app.GetNamespace()).Patch(ctx, app.GetName(), types.MergePatchType, data,
		metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// patch merges metadata and spec fields into the application at the
// version read, so that a concurrent change is never overwritten.
func (c *Controller) patch(ctx context.Context, app *unstructured.Unstructured, metadata, spec map[string]any) error {
	if metadata == nil {
		metadata = map[string]any{}
	}
	metadata["resourceVersion"] = app.GetResourceVersion()
	body := map[string]any{"metadata": metadata}
	if spec != nil {
		body["spec"] = spec
	}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = c.client.Resource(application.Resource).Namespace(app.GetNamespace()).Patch(ctx, app.GetName(), types.MergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// requesterOf is the requester archon acts as, or the failure saying none
// is recorded (or none archon signed).
func (c *Controller) requesterOf(ctx context.Context, app *unstructured.Unstructured) (templateapp.Requester, error) {
	as, err := c.signer.Verify(ctx, app)
	if errors.Is(err, templateapp.ErrNoRequester) {
		return as, templateapp.Fail(templateapp.ReasonInitializeFailed, fmt.Sprintf(
			"%v: archon records who creates a template application or changes its chart annotations, and acts as them; "+
				"to be recorded, change one of its chart annotations, or take annotation %s off (kubectl annotate application %s %s-)",
			err, templateapp.RequesterAnnotation, app.GetName(), templateapp.RequesterAnnotation))
	}
	return as, err
}

func asFailure(err error) *templateapp.Failure {
	if failure, ok := templateapp.AsFailure(err); ok {
		return failure
	}
	return templateapp.Fail(templateapp.ReasonChartSyncFailed, err.Error())
}

// history reads the revisions of a release; a record archon did not seal
// is a failure saying which, tried again later (once it is deleted).
func (c *Controller) history(namespace, name string) ([]*release.Release, error) {
	history, err := c.releases.History(namespace, name)
	if unsealed, ok := templateapp.AsUnsealed(err); ok {
		return nil, templateapp.FailForNow(templateapp.ReasonChartSyncFailed, unsealed.Error())
	}
	return history, err
}

// lastDeployed is the revision deployed now, if any.
func lastDeployed(history []*release.Release) *release.Release {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Info.Status == release.StatusDeployed {
			return history[i]
		}
	}
	return nil
}

// rollbackTarget is the newest earlier revision that was deployed for
// the template hash, if any: going back to it is a helm rollback.
func rollbackTarget(history []*release.Release, hash string) *release.Release {
	for i := len(history) - 1; i >= 0; i-- {
		rel := history[i]
		if rel.Labels[templateapp.DesiredLabel] == hash && (rel.Info.Status == release.StatusSuperseded || rel.Info.Status == release.StatusDeployed) {
			return rel
		}
	}
	return nil
}

func without(list []string, item string) []any {
	out := []any{}
	for _, s := range list {
		if s != item {
			out = append(out, s)
		}
	}
	return out
}
