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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/controller/projectrbac"
	"github.com/acp-archon/archon/pkg/controller/projectstatus"
	"github.com/acp-archon/archon/pkg/controller/pullsecret"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archonscheme "github.com/acp-archon/archon/pkg/generated/clientset/versioned/scheme"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
)

const (
	// leaseNamespace and leaseName identify the Lease that elects the one
	// replica running controllers; API serving stays active-active.
	leaseNamespace = "archon-system"
	leaseName      = "archon-controllers"
)

// informerFactories are the factories the controllers read from; the
// cluster parts start them on every replica, so that a new leader starts
// with warm caches.
type informerFactories struct {
	// kube[0] is the server's shared factory; the others are narrowed to
	// what one controller owns.
	kube   []kubeinformers.SharedInformerFactory
	archon archoninformers.SharedInformerFactory
}

func (f *informerFactories) start(stop <-chan struct{}) {
	for _, factory := range f.kube {
		factory.Start(stop)
	}
	f.archon.Start(stop)
}

// controller is one of archon's reconcilers.
type controller interface {
	Run(ctx context.Context, workers int)
}

// addControllers runs archon's controllers once the server serves, under
// leader election. The image pull secret controller runs when archon
// fronts a registry.
func addControllers(server *genericapiserver.GenericAPIServer, cluster string, kube kubernetes.Interface, archon archonclient.Interface,
	registry *RegistryConfig, informers *informerFactories) error {
	shared := informers.kube[0]
	ownedRBAC, seats := projectrbac.NewOwnedInformers(kube), projectrbac.NewSeatInformers(kube)
	informers.kube = append(informers.kube, ownedRBAC, seats)
	recorder := newEventRecorder(server, kube, "archon-project-rbac")
	rbacController, err := projectrbac.New(kube, archon, recorder, shared, ownedRBAC, seats, informers.archon)
	if err != nil {
		return err
	}
	statusController, err := projectstatus.New(cluster, archon, shared, informers.archon)
	if err != nil {
		return err
	}
	controllers := []controller{rbacController, statusController}
	if registry != nil {
		secrets, bindings := pullsecret.NewOwnedInformers(kube)
		serviceAccounts := pullsecret.NewDefaultServiceAccountInformers(kube)
		informers.kube = append(informers.kube, secrets, bindings, serviceAccounts)
		pullSecrets, err := pullsecret.New(kube, registry.Host, registry.Service, shared, secrets, bindings, serviceAccounts)
		if err != nil {
			return err
		}
		controllers = append(controllers, pullSecrets)
	}
	return server.AddPostStartHook("archon-controllers", func(hook genericapiserver.PostStartHookContext) error {
		go runWhileLeading(hook, kube, func(ctx context.Context) {
			for _, c := range controllers {
				go c.Run(ctx, 2)
			}
			<-ctx.Done()
		})
		return nil
	})
}

// newEventRecorder returns a recorder of Events from component about
// archon's and Kubernetes' objects, sent to kube-apiserver until the
// server stops.
func newEventRecorder(server *genericapiserver.GenericAPIServer, kube kubernetes.Interface, component string) record.EventRecorder {
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	server.AddPreShutdownHookOrDie(component+"-events", func() error {
		broadcaster.Shutdown()
		return nil
	})
	return broadcaster.NewRecorder(archonscheme.Scheme, corev1.EventSource{Component: component})
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
