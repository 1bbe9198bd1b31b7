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

// Package nodeisolation keeps nodes in step with the node isolation
// policies (acp-nodegroups): a node of a policy carries the label
// NodeGroupLabel naming it, which the pod webhook pins the policy's
// projects' pods to, and, when the policy is exclusive, a NoSchedule
// taint of that key, which only those pods tolerate. Pods already running
// are never evicted.
package nodeisolation

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	resourcelisters "github.com/acp-archon/archon/pkg/generated/listers/resource/v1"
)

// NodeGroupLabel names, on a node and in its taint, the policy it is in.
const NodeGroupLabel = "resource.alauda.io/node-group"

// Controller labels and taints nodes, one at a time.
type Controller struct {
	kube     kubernetes.Interface
	nodes    corelisters.NodeLister
	policies resourcelisters.NodeGroupLister
	queue    *keyqueue.Queue
}

// New returns the controller, wired to nodes and policies (call it
// before starting the factories); kube writes the nodes.
func New(kube kubernetes.Interface, kubeInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) (*Controller, error) {
	nodes := kubeInformers.Core().V1().Nodes()
	policies := archonInformers.Resource().V1().NodeGroups()
	c := &Controller{kube: kube, nodes: nodes.Lister(), policies: policies.Lister()}
	c.queue = keyqueue.New("node-isolation", c.sync)
	if err := c.queue.Watch(nodes.Informer(), keyqueue.NameKey); err != nil {
		return nil, err
	}
	// A policy changed: every node may be in or out of it now.
	if err := c.queue.Watch(policies.Informer(), func(any) []string { return c.allNodes() }); err != nil {
		return nil, err
	}
	return c, nil
}

// Run keeps nodes in step until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

func (c *Controller) allNodes() []string {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(nodes))
	for _, node := range nodes {
		names = append(names, node.Name)
	}
	return names
}

// PolicyOf is the policy naming the node (by name or internal IP), if
// any.
func PolicyOf(node *corev1.Node, policies []*resourcev1.NodeGroup) *resourcev1.NodeGroup {
	for _, policy := range policies {
		for _, name := range policy.Spec.Nodes {
			if name == node.Name {
				return policy
			}
			for _, address := range node.Status.Addresses {
				if address.Type == corev1.NodeInternalIP && address.Address == name {
					return policy
				}
			}
		}
	}
	return nil
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	policies, err := c.policies.List(labels.Everything())
	if err != nil {
		return err
	}
	desired := node.DeepCopy()
	delete(desired.Labels, NodeGroupLabel)
	desired.Spec.Taints = slices.DeleteFunc(desired.Spec.Taints, func(t corev1.Taint) bool { return t.Key == NodeGroupLabel })
	if policy := PolicyOf(node, policies); policy != nil {
		if desired.Labels == nil {
			desired.Labels = map[string]string{}
		}
		desired.Labels[NodeGroupLabel] = policy.Name
		if policy.Spec.Exclusive == nil || *policy.Spec.Exclusive {
			desired.Spec.Taints = append(desired.Spec.Taints, corev1.Taint{Key: NodeGroupLabel, Value: policy.Name, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if desired.Labels[NodeGroupLabel] == node.Labels[NodeGroupLabel] && slices.Equal(desired.Spec.Taints, node.Spec.Taints) {
		return nil
	}
	_, err = c.kube.CoreV1().Nodes().Update(ctx, desired, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		c.queue.Add(name) // the informer brings the newer node shortly
		return nil
	}
	return err
}
