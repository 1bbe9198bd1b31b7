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

// Package application reads the Kubernetes application API
// (app.k8s.io/v1beta1 Application, a CRD served by kube-apiserver) and
// works out an application's status from its components.
package application

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is the Application resource.
var Resource = schema.GroupVersionResource{Group: "app.k8s.io", Version: "v1beta1", Resource: "applications"}

// HistoryResource is the ApplicationHistory resource.
var HistoryResource = schema.GroupVersionResource{Group: "app.k8s.io", Version: "v1beta1", Resource: "applicationhistories"}

// CoreGroup is how the platform's documentation names the core group in
// spec.componentKinds; the empty group means the same.
const CoreGroup = "core"

// Spec is the part of an Application's spec archon acts on.
type Spec struct {
	Selector       *metav1.LabelSelector `json:"selector,omitempty"`
	ComponentKinds []metav1.GroupKind    `json:"componentKinds,omitempty"`
	AddOwnerRef    bool                  `json:"addOwnerRef,omitempty"`
}

// SpecOf decodes the spec of an Application, with the core group spelled
// as Kubernetes spells it (empty).
func SpecOf(app *unstructured.Unstructured) (Spec, error) {
	var spec Spec
	if raw, ok := app.Object["spec"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &spec); err != nil {
			return Spec{}, err
		}
	}
	for i := range spec.ComponentKinds {
		if spec.ComponentKinds[i].Group == CoreGroup {
			spec.ComponentKinds[i].Group = ""
		}
	}
	return spec, nil
}

// The phases of an application, as the platform documents them.
const (
	// PhaseRunning: every computing component runs.
	PhaseRunning = "Running"
	// PhasePartiallyRunning: some computing components run, the others
	// are stopped.
	PhasePartiallyRunning = "PartiallyRunning"
	// PhaseStopped: every computing component is stopped.
	PhaseStopped = "Stopped"
	// PhaseProcessing: at least one computing component is on its way.
	PhaseProcessing = "Processing"
	// PhaseNoComputingComponents: the application has no computing
	// components (Deployments, StatefulSets, DaemonSets).
	PhaseNoComputingComponents = "NoComputingComponents"
	// PhaseFailed: a computing component failed to deploy.
	PhaseFailed = "Failed"
)

// ConditionReady is the condition saying whether every component is
// ready; its reason is the phase.
const ConditionReady = "Ready"

// Status is the status archon writes into an Application.
type Status struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase sums up the computing components (the Phase* constants).
	Phase string `json:"phase,omitempty"`
	// ComponentsReady is "<ready>/<total>" over every component.
	ComponentsReady string             `json:"componentsReady,omitempty"`
	Components      []ComponentStatus  `json:"components,omitempty"`
	Conditions      []metav1.Condition `json:"conditions,omitempty"`
}

// ComponentStatus is one component of an application.
type ComponentStatus struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// State is Running, Processing, Stopped or Failed for a computing
	// component; other components have none.
	State string `json:"state,omitempty"`
	// Message says why a component is not ready.
	Message string `json:"message,omitempty"`
}
