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

package application_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/acp-archon/archon/pkg/application"
)

func deployment(want int32, mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(want)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want,
			AvailableReplicas: want},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func TestDeploymentStates(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     *appsv1.Deployment
		state string
	}{
		{"all available", deployment(3, nil), application.StateRunning},
		{"one not available", deployment(3, func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 2 }), application.StateProcessing},
		{"rolling out", deployment(3, func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1; d.Status.Replicas = 4 }), application.StateProcessing},
		{"old pods left", deployment(3, func(d *appsv1.Deployment) { d.Status.Replicas = 4 }), application.StateProcessing},
		{"spec not observed", deployment(3, func(d *appsv1.Deployment) { d.Generation = 3 }), application.StateProcessing},
		{"scaled to zero", deployment(0, nil), application.StateStopped},
		{"scaling to zero", deployment(0, func(d *appsv1.Deployment) { d.Status.Replicas = 2 }), application.StateProcessing},
		{"default of one replica", deployment(1, func(d *appsv1.Deployment) { d.Spec.Replicas = nil }), application.StateRunning},
		{"deadline exceeded", deployment(3, func(d *appsv1.Deployment) {
			d.Status.AvailableReplicas = 0
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}}
		}), application.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := application.DeploymentComponent(tc.d)
			if c.State != tc.state || c.Ready != (tc.state == application.StateRunning) {
				t.Errorf("state %s, ready %v (%s); want %s", c.State, c.Ready, c.Message, tc.state)
			}
			if c.Kind != "Deployment" || c.Group != "apps" || c.Name != "web" {
				t.Errorf("component %+v", c)
			}
		})
	}
}

func TestStatefulSetAndDaemonSetStates(t *testing.T) {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2,
			CurrentRevision: "db-1", UpdateRevision: "db-1"},
	}
	if c := application.StatefulSetComponent(set); c.State != application.StateRunning {
		t.Errorf("ready StatefulSet: %+v", c)
	}
	set.Status.ReadyReplicas = 1
	if c := application.StatefulSetComponent(set); c.State != application.StateProcessing || !strings.Contains(c.Message, "1 of 2") {
		t.Errorf("StatefulSet with one pod ready: %+v", c)
	}
	set.Spec.Replicas, set.Status.Replicas, set.Status.ReadyReplicas = ptr.To[int32](0), 0, 0
	if c := application.StatefulSetComponent(set); c.State != application.StateStopped {
		t.Errorf("StatefulSet scaled to zero: %+v", c)
	}

	daemons := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: 1},
		Status:     appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 2, UpdatedNumberScheduled: 2, NumberReady: 2},
	}
	if c := application.DaemonSetComponent(daemons); c.State != application.StateRunning {
		t.Errorf("ready DaemonSet: %+v", c)
	}
	daemons.Status.NumberReady, daemons.Status.NumberUnavailable = 1, 1
	if c := application.DaemonSetComponent(daemons); c.State != application.StateProcessing {
		t.Errorf("DaemonSet with one pod unavailable: %+v", c)
	}
}

func TestPhases(t *testing.T) {
	running := application.DeploymentComponent(deployment(1, nil))
	stopped := application.DeploymentComponent(deployment(0, nil))
	processing := application.DeploymentComponent(deployment(2, func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }))
	failed := application.DeploymentComponent(deployment(2, func(d *appsv1.Deployment) {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
	}))
	service := application.ObjectComponent("", "Service", "web")
	for _, tc := range []struct {
		name       string
		components []application.ComponentStatus
		phase      string
		ready      string
		allReady   bool
	}{
		{"running", []application.ComponentStatus{running, service}, application.PhaseRunning, "2/2", true},
		{"partially running", []application.ComponentStatus{running, stopped, service}, application.PhasePartiallyRunning, "2/3", false},
		{"stopped", []application.ComponentStatus{stopped, stopped, service}, application.PhaseStopped, "1/3", false},
		{"processing beats stopped and running", []application.ComponentStatus{running, stopped, processing}, application.PhaseProcessing, "1/3", false},
		{"failed beats processing", []application.ComponentStatus{failed, processing, running}, application.PhaseFailed, "1/3", false},
		{"no computing components", []application.ComponentStatus{service}, application.PhaseNoComputingComponents, "1/1", true},
		{"nothing at all", nil, application.PhaseNoComputingComponents, "0/0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := application.Summarize(4, tc.components, nil, nil)
			if status.Phase != tc.phase || status.ComponentsReady != tc.ready || status.ObservedGeneration != 4 {
				t.Errorf("phase %s, ready %s, generation %d; want %s, %s, 4", status.Phase, status.ComponentsReady, status.ObservedGeneration, tc.phase, tc.ready)
			}
			ready := meta.FindStatusCondition(status.Conditions, application.ConditionReady)
			if ready == nil || (ready.Status == metav1.ConditionTrue) != tc.allReady || ready.Reason != tc.phase {
				t.Errorf("Ready condition %+v", ready)
			}
		})
	}
}

func TestSummarizeSaysWhatIsNotReady(t *testing.T) {
	processing := application.DeploymentComponent(deployment(3, func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 }))
	status := application.Summarize(1, []application.ComponentStatus{processing}, []metav1.GroupKind{{Group: "example.com", Kind: "Widget"}}, nil)
	ready := meta.FindStatusCondition(status.Conditions, application.ConditionReady)
	for _, want := range []string{"Deployment web (1 of 3 pods available)", "Widget.example.com"} {
		if !strings.Contains(ready.Message, want) {
			t.Errorf("Ready message %q does not say %q", ready.Message, want)
		}
	}
}

func TestSummarizeKeepsTransitionTimeAndOtherConditions(t *testing.T) {
	then := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	previous := []metav1.Condition{
		{Type: application.ConditionReady, Status: metav1.ConditionTrue, Reason: application.PhaseRunning, LastTransitionTime: then},
		{Type: "Synced", Status: metav1.ConditionTrue, Reason: "Synced", LastTransitionTime: then},
	}
	running := application.DeploymentComponent(deployment(1, nil))
	status := application.Summarize(1, []application.ComponentStatus{running}, nil, previous)
	if ready := meta.FindStatusCondition(status.Conditions, application.ConditionReady); !ready.LastTransitionTime.Equal(&then) {
		t.Errorf("Ready moved to %v although it stayed True", ready.LastTransitionTime)
	}
	if meta.FindStatusCondition(status.Conditions, "Synced") == nil {
		t.Error("a condition archon's status does not own was dropped")
	}
	stopped := application.DeploymentComponent(deployment(0, nil))
	status = application.Summarize(1, []application.ComponentStatus{stopped}, nil, previous)
	if ready := meta.FindStatusCondition(status.Conditions, application.ConditionReady); ready.LastTransitionTime.Equal(&then) || ready.Status != metav1.ConditionFalse {
		t.Errorf("Ready after stopping: %+v", ready)
	}
	if previous[0].Status != metav1.ConditionTrue {
		t.Error("Summarize changed the conditions it was given")
	}
}

func TestSpecOfSpellsTheCoreGroupEmpty(t *testing.T) {
	app := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"componentKinds": []any{map[string]any{"group": "core", "kind": "Service"}, map[string]any{"group": "apps", "kind": "Deployment"}},
		"selector":       map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "shop"}},
	}}}
	spec, err := application.SpecOf(app)
	if err != nil {
		t.Fatal(err)
	}
	if spec.ComponentKinds[0] != (metav1.GroupKind{Kind: "Service"}) || spec.ComponentKinds[1].Group != "apps" {
		t.Errorf("component kinds %+v", spec.ComponentKinds)
	}
	app.Object["spec"].(map[string]any)["selector"] = "not a selector"
	if _, err := application.SpecOf(app); err == nil {
		t.Error("a selector that is a string was read")
	}
	if status := application.Malformed(1, errors.New("bad"), nil); status.Phase != application.PhaseFailed {
		t.Errorf("malformed status %+v", status)
	}
}
