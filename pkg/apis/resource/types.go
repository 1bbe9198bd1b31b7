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

package resource

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceResourceRatio is a namespace's overcommit ratio: the requests
// of its new pods' containers are their limits divided by the ratio.
type NamespaceResourceRatio struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   NamespaceResourceRatioSpec
	Status NamespaceResourceRatioStatus
}

// NamespaceResourceRatioSpec holds a ratio for CPU and one for memory:
// nil inherits the cluster's, 0 means no overcommit, any other value is
// an integer greater than 1.
type NamespaceResourceRatioSpec struct {
	CPU    *int64
	Memory *int64
}

// NamespaceResourceRatioStatus shows the cluster's ratios.
type NamespaceResourceRatioStatus struct {
	ClusterCPU    int64
	ClusterMemory int64
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NodeGroup is a node isolation policy: the pods of its projects run on
// its nodes only, and, exclusive, no other project's pods do.
type NodeGroup struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec NodeGroupSpec
}

// NodeGroupSpec names the projects and the nodes.
type NodeGroupSpec struct {
	Projects  []string
	Nodes     []string
	Exclusive bool
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NodeGroupList is a list of NodeGroups.
type NodeGroupList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []NodeGroup
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceResourceRatioList is a list of NamespaceResourceRatios.
type NamespaceResourceRatioList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []NamespaceResourceRatio
}
