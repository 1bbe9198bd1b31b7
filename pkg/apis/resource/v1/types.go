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

package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceResourceRatio is a namespace's overcommit ratio (超售比): the
// requests of the containers of the namespace's new pods are their limits
// divided by the ratio (a container without limits takes the namespace's
// LimitRange default). Pods already there keep their requests until they
// are created again. A namespace has at most one.
type NamespaceResourceRatio struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec NamespaceResourceRatioSpec `json:"spec,omitempty"`
	// +optional
	Status NamespaceResourceRatioStatus `json:"status,omitempty"`
}

// NamespaceResourceRatioSpec holds the namespace's ratios.
type NamespaceResourceRatioSpec struct {
	// CPU is the CPU overcommit ratio, limits / requests: absent inherits
	// the cluster's ratio, 0 means no overcommit, any other value is an
	// integer greater than 1.
	// +optional
	CPU *int64 `json:"cpu,omitempty"`
	// Memory is the memory overcommit ratio, as CPU.
	// +optional
	Memory *int64 `json:"memory,omitempty"`
}

// NamespaceResourceRatioStatus shows the cluster's ratios, archon's
// settings (0: none), which absent fields of the spec inherit.
type NamespaceResourceRatioStatus struct {
	// ClusterCPU is the cluster's CPU overcommit ratio.
	// +optional
	ClusterCPU int64 `json:"clusterCPU"`
	// ClusterMemory is the cluster's memory overcommit ratio.
	// +optional
	ClusterMemory int64 `json:"clusterMemory"`
}

// +genclient
// +genclient:nonNamespaced
// +resourceName=acp-nodegroups
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NodeGroup is a node isolation policy (节点隔离策略) of the cluster,
// served as acp-nodegroups, the platform's name for its permission: the
// pods of its projects' namespaces are scheduled onto its nodes only and,
// when it is exclusive, no other project's pods are. Pods already running
// stay where they are. A project and a node are each in one policy at
// most.
type NodeGroup struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NodeGroupSpec `json:"spec"`
}

// NodeGroupSpec names the projects and the nodes.
type NodeGroupSpec struct {
	// Projects are the projects whose pods run on the nodes.
	// +listType=set
	Projects []string `json:"projects"`
	// Nodes are the nodes, by name or by internal IP address.
	// +listType=set
	Nodes []string `json:"nodes"`
	// Exclusive keeps the pods of every other project (and of namespaces
	// outside projects) off the nodes; true unless set false.
	// +optional
	Exclusive *bool `json:"exclusive,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NodeGroupList is a list of NodeGroups.
type NodeGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []NodeGroup `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NamespaceResourceRatioList is a list of NamespaceResourceRatios.
type NamespaceResourceRatioList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []NamespaceResourceRatio `json:"items"`
}
