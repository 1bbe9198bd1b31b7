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

package apiserver

import (
	"context"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/controller/projectrbac"
	"github.com/acp-archon/archon/pkg/controller/projectstatus"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
)

const (
	// leaseNamespace and leaseName identify the Lease that elects the one
	// replica running controllers; API serving stays active-active.
	leaseNamespace = "archon-system"
	leaseName      = "archon-controllers"
)

// addControllers runs archon's controllers once the server serves, under
// leader election, from informers the cluster parts start.
func addControllers(server *genericapiserver.GenericAPIServer, cluster string, kube kubernetes.Interface, archon archonclient.Interface,
	kubeInformers, ownedRBACInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) error {
	rbacController, err := projectrbac.New(kube, kubeInformers, ownedRBACInformers, archonInformers)
	if err != nil {
		return err
	}
	statusController, err := projectstatus.New(cluster, archon, kubeInformers, archonInformers)
	if err != nil {
		return err
	}
	return server.AddPostStartHook("archon-controllers", func(hook genericapiserver.PostStartHookContext) error {
		go runWhileLeading(hook, kube, func(ctx context.Context) {
			go statusController.Run(ctx, 2)
			rbacController.Run(ctx, 2)
		})
		return nil
	})
}

func runWhileLeading(ctx context.Context, kube kubernetes.Interface, run func(context.Context)) {
	hostname, _ := os.Hostname()
	identity := hostname + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, leaseNamespace, leaseName,
		kube.CoreV1(), kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		klog.ErrorS(err, "Controllers cannot elect a leader")
		return
	}
	// A replica that loses the lease stops its controllers and competes again.
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Name:            leaseName,
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: run,
				OnStoppedLeading: func() { klog.InfoS("Stopped leading archon's controllers", "identity", identity) },
			},
		})
	}, time.Second)
}
