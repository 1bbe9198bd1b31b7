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

package localplane

import (
	"context"
	_ "embed"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// simulatedNodes is how many Nodes kwok plays: more than one, so that
// spreading and anti-affinity have somewhere to go.
const simulatedNodes = 2

// kwokStages is the behavior kwok gives Nodes and pods; kwok refuses to
// start without stages.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// startScheduler runs kube-scheduler, which binds pods to the simulated
// nodes. It serves no port.
func (p *Plane) startScheduler() error {
	l := p.layout
	kubeconfig := l.kubeconfig("kube-scheduler")
	if err := p.writeKubeconfig(kubeconfig, "system:kube-scheduler", []string{"system:masters"}); err != nil {
		return err
	}
	p.logf("Starting kube-scheduler")
	var err error
	p.scheduler, err = startProcess("kube-scheduler", l.binary("kube-scheduler"), l.logPath("kube-scheduler"), nil,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
	)
	if err != nil {
		return err
	}
	p.watchProcess(p.scheduler)
	return nil
}

// startSimulatedNodes runs kwok and registers the Nodes it plays. kwok
// stands in for the kubelets: it reports the Nodes Ready, renews their
// Leases and turns pods bound to them Running and Ready, with no container
// runtime. Every address it hands out stays off the network: Nodes are
// 127.0.0.1 and serve no kubelet port; pod IPs come from kwok's default
// range and nothing connects to them.
func (p *Plane) startSimulatedNodes(ctx context.Context) error {
	l := p.layout
	kubeconfig := l.kubeconfig("kwok")
	if err := p.writeKubeconfig(kubeconfig, "kwok", []string{"system:masters"}); err != nil {
		return err
	}
	stages := l.path("kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	p.logf("Starting kwok with %d simulated nodes", simulatedNodes)
	var err error
	p.kwok, err = startProcess("kwok", l.binary("kwok"), l.logPath("kwok"), nil,
		"--kubeconfig="+kubeconfig,
		"--config="+stages,
		"--manage-all-nodes",
		"--node-ip=127.0.0.1",
		// kwok renews each Node's Lease, the heartbeat the node lifecycle
		// controller reads; without a Lease it marks the Nodes NotReady
		// (and taints them) every 50 s until kwok turns them Ready again.
		"--node-lease-duration-seconds=40",
	)
	if err != nil {
		return err
	}
	p.watchProcess(p.kwok)
	for i := 1; i <= simulatedNodes; i++ {
		if err := p.createNode(ctx, fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return err
		}
	}
	return nil
}

// createNode registers a Node for kwok, unless a previous run did.
func (p *Plane) createNode(ctx context.Context, name string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				corev1.LabelHostname: name,
				corev1.LabelOSStable: "linux",
				"type":               "kwok",
			},
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		},
	}
	_, err := p.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering simulated node %s: %w", name, err)
	}
	return nil
}
