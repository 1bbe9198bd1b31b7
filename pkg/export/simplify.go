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

// Package export turns the live objects of an application into artifacts
// that apply elsewhere: "simplified YAML" without what the cluster
// assigned, and a Kustomize base of it.
package export

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lastAppliedAnnotations are written by kubectl apply and mean nothing in
// another cluster.
var lastAppliedAnnotations = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"deployment.kubernetes.io/revision",
}

// Simplify returns a copy of obj without what the cluster assigned or
// records about its life: status, uid, resourceVersion, generation,
// creation time, managed fields, namespace, owner references, last-applied
// annotations, and the addresses a Service was given.
func Simplify(obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	unstructured.RemoveNestedField(out.Object, "status")
	for _, field := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
		"namespace", "ownerReferences", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"} {
		unstructured.RemoveNestedField(out.Object, "metadata", field)
	}
	if annotations := out.GetAnnotations(); annotations != nil {
		for _, key := range lastAppliedAnnotations {
			delete(annotations, key)
		}
		if len(annotations) == 0 {
			annotations = nil
		}
		out.SetAnnotations(annotations)
	}
	// Pod templates carry an empty creation time the API server writes.
	unstructured.RemoveNestedField(out.Object, "spec", "template", "metadata", "creationTimestamp")
	if out.GroupVersionKind().GroupKind().String() == "Service" {
		for _, field := range []string{"clusterIP", "clusterIPs", "healthCheckNodePort"} {
			unstructured.RemoveNestedField(out.Object, "spec", field)
		}
		// Node ports are chosen by the cluster unless the Service asks for
		// one; an exported NodePort keeps its type and gets a new port.
		if ports, found, _ := unstructured.NestedSlice(out.Object, "spec", "ports"); found {
			for _, port := range ports {
				if p, ok := port.(map[string]any); ok {
					delete(p, "nodePort")
				}
			}
			_ = unstructured.SetNestedSlice(out.Object, ports, "spec", "ports")
		}
	}
	return out
}
