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

package application

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The states of a computing component, as the platform documents them.
const (
	// StateRunning: every pod runs the latest spec and is ready.
	StateRunning = "Running"
	// StateProcessing: some pod is not running or ready yet.
	StateProcessing = "Processing"
	// StateStopped: scaled to zero, and every pod is gone.
	StateStopped = "Stopped"
	// StateFailed: the rollout failed (its progress deadline passed).
	StateFailed = "Failed"
)

// DeploymentComponent is the component a Deployment is.
func DeploymentComponent(d *appsv1.Deployment) ComponentStatus {
	state, message := deploymentState(d)
	return computing("apps", "Deployment", d.Name, state, message)
}

func deploymentState(d *appsv1.Deployment) (string, string) {
	if d.Generation > d.Status.ObservedGeneration {
		return StateProcessing, "its controller has not acted on the latest spec yet"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return StateFailed, c.Message
		}
	}
	want := replicas(d.Spec.Replicas)
	return replicaState(want, d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, "available")
}

// StatefulSetComponent is the component a StatefulSet is.
func StatefulSetComponent(s *appsv1.StatefulSet) ComponentStatus {
	var state, message string
	if s.Generation > s.Status.ObservedGeneration {
		state, message = StateProcessing, "its controller has not acted on the latest spec yet"
	} else {
		updated := s.Status.UpdatedReplicas
		if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType || s.Status.CurrentRevision == s.Status.UpdateRevision {
			updated = s.Status.Replicas // pods are replaced by hand, or all are of the update revision
		}
		state, message = replicaState(replicas(s.Spec.Replicas), s.Status.Replicas, updated, s.Status.ReadyReplicas, "ready")
	}
	return computing("apps", "StatefulSet", s.Name, state, message)
}

// DaemonSetComponent is the component a DaemonSet is. A DaemonSet runs
// on every node it selects and is never stopped.
func DaemonSetComponent(d *appsv1.DaemonSet) ComponentStatus {
	state, message := StateRunning, ""
	switch desired := d.Status.DesiredNumberScheduled; {
	case d.Generation > d.Status.ObservedGeneration:
		state, message = StateProcessing, "its controller has not acted on the latest spec yet"
	case d.Status.UpdatedNumberScheduled < desired || d.Status.NumberReady < desired || d.Status.NumberUnavailable > 0:
		state, message = StateProcessing, fmt.Sprintf("%d of %d pods ready", d.Status.NumberReady, desired)
	}
	return computing("apps", "DaemonSet", d.Name, state, message)
}

// replicaState is the state of a workload that wants want replicas and
// has current, of which updated run its latest spec and ready serve.
func replicaState(want, current, updated, ready int32, readiness string) (string, string) {
	switch {
	case want == 0 && current == 0:
		return StateStopped, ""
	case want == 0:
		return StateProcessing, fmt.Sprintf("stopping: %d pods left", current)
	case current == want && updated == want && ready == want:
		return StateRunning, ""
	case updated < want:
		return StateProcessing, fmt.Sprintf("%d of %d pods updated, %d %s", updated, want, ready, readiness)
	default:
		return StateProcessing, fmt.Sprintf("%d of %d pods %s", ready, want, readiness)
	}
}

func replicas(spec *int32) int32 {
	if spec == nil {
		return 1
	}
	return *spec
}

func computing(group, kind, name, state, message string) ComponentStatus {
	return ComponentStatus{Group: group, Kind: kind, Name: name, State: state, Ready: state == StateRunning, Message: message}
}

// ObjectComponent is a component that runs nothing (a Service, a
// ConfigMap, ...): it is ready once it exists.
func ObjectComponent(group, kind, name string) ComponentStatus {
	return ComponentStatus{Group: group, Kind: kind, Name: name, Ready: true}
}

// Summarize works out an application's status from its components and the
// kinds of component archon does not track; the Ready condition keeps its
// transition time from previous while it does not change.
func Summarize(generation int64, components []ComponentStatus, untracked []metav1.GroupKind, previous []metav1.Condition) Status {
	components = append([]ComponentStatus(nil), components...)
	sort.Slice(components, func(i, j int) bool {
		a, b := components[i], components[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Name < b.Name
	})
	ready := 0
	var notReady []string
	for _, c := range components {
		if c.Ready {
			ready++
			continue
		}
		described := c.Kind + " " + c.Name
		if c.Message != "" {
			described += " (" + c.Message + ")"
		} else if c.State != "" {
			described += " (" + c.State + ")"
		}
		notReady = append(notReady, described)
	}
	status := Status{
		ObservedGeneration: generation,
		Phase:              phase(components),
		ComponentsReady:    fmt.Sprintf("%d/%d", ready, len(components)),
		Components:         components,
		Conditions:         append([]metav1.Condition(nil), previous...),
	}
	condition := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: status.Phase, ObservedGeneration: generation,
		Message: fmt.Sprintf("%s components ready", status.ComponentsReady)}
	if len(notReady) > 0 {
		condition.Status = metav1.ConditionFalse
		condition.Message += "; not ready: " + strings.Join(notReady, ", ")
	}
	if len(untracked) > 0 {
		var kinds []string
		for _, kind := range untracked {
			kinds = append(kinds, schema.GroupKind(kind).String())
		}
		condition.Message += "; kinds archon does not track, left out: " + strings.Join(kinds, ", ")
	}
	meta.SetStatusCondition(&status.Conditions, condition)
	return status
}

// Malformed is the status of an application whose spec archon cannot
// read (a selector that does not parse): no components, and a Ready
// condition that says why.
func Malformed(generation int64, err error, previous []metav1.Condition) Status {
	status := Status{ObservedGeneration: generation, Phase: PhaseFailed, ComponentsReady: "0/0",
		Conditions: append([]metav1.Condition(nil), previous...)}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: ConditionReady, Status: metav1.ConditionFalse, Reason: "InvalidSpec",
		ObservedGeneration: generation, Message: fmt.Sprintf("the application's spec cannot be read: %v", err)})
	return status
}

// phase sums up the computing components as the platform documents it: a
// failure first, then anything on its way, then running and stopped.
func phase(components []ComponentStatus) string {
	counts := map[string]int{}
	total := 0
	for _, c := range components {
		if c.State != "" {
			counts[c.State]++
			total++
		}
	}
	switch {
	case total == 0:
		return PhaseNoComputingComponents
	case counts[StateFailed] > 0:
		return PhaseFailed
	case counts[StateProcessing] > 0:
		return PhaseProcessing
	case counts[StateStopped] == total:
		return PhaseStopped
	case counts[StateRunning] == total:
		return PhaseRunning
	default:
		return PhasePartiallyRunning
	}
}

// ConditionsOf reads the conditions of an application's status; none when
// they cannot be read.
func ConditionsOf(app *unstructured.Unstructured) []metav1.Condition {
	raw, found, err := unstructured.NestedSlice(app.Object, "status", "conditions")
	if err != nil || !found {
		return nil
	}
	var decoded struct {
		Items []metav1.Condition `json:"items"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"items": raw}, &decoded); err != nil {
		return nil
	}
	return decoded.Items
}
