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
	"errors"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	restclient "k8s.io/client-go/rest"
	componentbaseconfig "k8s.io/component-base/config"

	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	"github.com/acp-archon/archon/pkg/protectednamespace"
)

// Config is everything needed to build an archon server: the generic
// server's configuration and archon's own.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	Extra         ExtraConfig
}

// ExtraConfig is archon's own configuration.
type ExtraConfig struct {
	// ClusterName is the name of the cluster this archon serves, as
	// projects list it in spec.clusters.
	ClusterName string
	// Registry is the container registry images.registry.alauda.io reads;
	// nil leaves images and the registry token service out.
	Registry *ContainerRegistryConfig
	// Charts configures the chart catalog.
	Charts ChartsConfig
	// Overcommit is the cluster's overcommit ratios, which namespaces
	// inherit (0: none).
	Overcommit OvercommitConfig
	// ProtectedNamespaces never join a project, besides kube-*, default
	// and archon's own.
	ProtectedNamespaces []string
	// Controllers says how many workers each controller runs and how the
	// replica running them is elected.
	Controllers ControllersConfig
}

// OvercommitConfig is the cluster's overcommit ratios, limits / requests
// of pods' containers: 0 for none, else an integer greater than 1.
type OvercommitConfig struct {
	CPU, Memory int64
}

// ControllersConfig configures archon's controllers.
type ControllersConfig struct {
	// Workers is how many keys each controller syncs at once.
	Workers int
	// LeaderElection elects the one replica that runs the controllers;
	// with LeaderElect off every replica runs them (one replica only).
	LeaderElection componentbaseconfig.LeaderElectionConfiguration
}

// CompletedConfig is a Config with its defaults filled in and every client
// and informer factory built; only Complete makes one.
type CompletedConfig struct {
	*completedConfig
}

type completedConfig struct {
	generic   genericapiserver.CompletedConfig
	extra     ExtraConfig
	protected protectednamespace.Set
	clients   clients
}

// clients are every client and shared informer factory the server uses,
// built once. kubeConfig, kube and kubeInformers reach the cluster archon
// extends and are nil when archon runs standalone; the archon ones reach
// archon's own API through the loopback connection.
type clients struct {
	kubeConfig      *restclient.Config
	kube            kubernetes.Interface
	kubeDynamic     dynamic.Interface
	kubeMetadata    metadata.Interface
	kubeInformers   kubeinformers.SharedInformerFactory
	archon          archonclient.Interface
	archonInformers archoninformers.SharedInformerFactory
}

// standalone says whether archon runs without a cluster: then only what
// lives in its own etcd is served, and nothing acts on a cluster.
func (c clients) standalone() bool { return c.kube == nil }

// Complete fills in defaults and builds the clients; it mutates the
// receiver's generic config.
func (c *Config) Complete() (CompletedConfig, error) {
	if c.GenericConfig.LoopbackClientConfig == nil {
		return CompletedConfig{}, errors.New("the generic config has no loopback client config: apply the secure serving options first")
	}
	completed := &completedConfig{
		generic:   c.GenericConfig.Complete(),
		extra:     c.Extra,
		protected: protectednamespace.New(c.Extra.ProtectedNamespaces...),
	}
	if completed.extra.Controllers.Workers <= 0 {
		completed.extra.Controllers.Workers = DefaultControllerWorkers
	}
	archon, err := archonclient.NewForConfig(withClientRate(c.GenericConfig.LoopbackClientConfig))
	if err != nil {
		return CompletedConfig{}, err
	}
	completed.clients = clients{
		archon:          archon,
		archonInformers: archoninformers.NewSharedInformerFactory(archon, 0),
	}
	// The generic server's client and informers exist when archon extends
	// a cluster (delegated authentication found a kubeconfig).
	if kubeConfig := c.GenericConfig.ClientConfig; kubeConfig != nil && c.GenericConfig.SharedInformerFactory != nil {
		kube, err := kubernetes.NewForConfig(withClientRate(kubeConfig))
		if err != nil {
			return CompletedConfig{}, err
		}
		if completed.clients.kubeDynamic, err = dynamic.NewForConfig(withClientRate(kubeConfig)); err != nil {
			return CompletedConfig{}, err
		}
		if completed.clients.kubeMetadata, err = metadata.NewForConfig(withClientRate(kubeConfig)); err != nil {
			return CompletedConfig{}, err
		}
		completed.clients.kubeConfig = kubeConfig
		completed.clients.kube = kube
		completed.clients.kubeInformers = c.GenericConfig.SharedInformerFactory
	}
	return CompletedConfig{completed}, nil
}

// DefaultControllerWorkers is how many keys a controller syncs at once
// unless configured otherwise.
const DefaultControllerWorkers = 2

// DefaultLeaderElection returns the election of the replica running the
// controllers: the Lease archon-system/archon-controllers, held 15 s.
func DefaultLeaderElection() componentbaseconfig.LeaderElectionConfiguration {
	return componentbaseconfig.LeaderElectionConfiguration{
		LeaderElect:       true,
		LeaseDuration:     metav1.Duration{Duration: 15 * time.Second},
		RenewDeadline:     metav1.Duration{Duration: 10 * time.Second},
		RetryPeriod:       metav1.Duration{Duration: 2 * time.Second},
		ResourceLock:      "leases",
		ResourceName:      "archon-controllers",
		ResourceNamespace: "archon-system",
	}
}

// withClientRate lifts client-go's default of 5 requests a second: the
// controllers write two RoleBindings per project namespace and would take
// hours to catch up on a platform of thousands of namespaces.
func withClientRate(config *restclient.Config) *restclient.Config {
	config = restclient.CopyConfig(config)
	config.QPS, config.Burst = 200, 400
	return config
}
