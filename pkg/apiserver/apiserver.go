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

// Package apiserver assembles archon's API groups into a generic API server.
package apiserver

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
	"github.com/acp-archon/archon/pkg/registry/app/applicationexport"
	"github.com/acp-archon/archon/pkg/registry/auth/namespaceimport"
	"github.com/acp-archon/archon/pkg/registry/auth/namespacemember"
	projectstore "github.com/acp-archon/archon/pkg/registry/auth/project"
	"github.com/acp-archon/archon/pkg/webhook/projectnamespace"
)

// Config is everything needed to build an archon server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	// ClusterName is the name of the cluster this archon serves, as
	// projects list it in spec.clusters.
	ClusterName string
	// Registry is the container registry images.registry.alauda.io reads;
	// nil leaves images and the registry token service out.
	Registry *RegistryConfig
	// Charts configures the chart catalog.
	Charts ChartsConfig
	// ProtectedNamespaces never join a project, besides kube-*, default
	// and archon's own.
	ProtectedNamespaces []string
}

// CompletedConfig is a Config with every default filled in.
type CompletedConfig struct {
	generic genericapiserver.CompletedConfig
	// kubeConfig and kubeInformers reach the cluster archon extends; both
	// are nil when archon runs standalone.
	kubeConfig    *restclient.Config
	kubeInformers kubeinformers.SharedInformerFactory
	clusterName   string
	registry      *RegistryConfig
	charts        ChartsConfig
	protected     protectednamespace.Set
}

// Complete fills in defaults; it mutates the receiver.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{
		generic:       c.GenericConfig.Complete(),
		kubeConfig:    c.GenericConfig.ClientConfig,
		kubeInformers: c.GenericConfig.SharedInformerFactory,
		clusterName:   c.ClusterName,
		registry:      c.Registry,
		charts:        c.Charts,
		protected:     protectednamespace.New(c.ProtectedNamespaces...),
	}
}

// Server is a configured archon API server, ready to run.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// New builds the server and installs every API group.
func (c CompletedConfig) New() (*Server, error) {
	catalog, err := newCatalogParts(c.generic, c.charts)
	if err != nil {
		return nil, err
	}
	routes := []directRoute{{path: helmrepo.PathPrefix, handler: catalog.server}}
	var registryParts *registryParts
	if c.registry != nil {
		if registryParts, err = newRegistryParts(c.generic, c.kubeConfig, c.registry); err != nil {
			return nil, err
		}
		routes = append(routes, registryParts.routes()...)
		catalog.listPlatformRepositories(registryParts)
	}
	c.generic.BuildHandlerChainFunc = withDirectRoutes(c.generic.BuildHandlerChainFunc, routes)
	generic, err := c.generic.New("archon-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	if registryParts != nil {
		if err := registryParts.install(generic); err != nil {
			return nil, err
		}
	}
	if err := installAppGroup(generic, catalog, c.kubeConfig); err != nil {
		return nil, err
	}
	if c.kubeConfig == nil || c.kubeInformers == nil {
		return &Server{GenericAPIServer: generic}, installAuthGroup(generic, c.generic, nil, nil, nil, c.clusterName, c.protected)
	}
	kube, err := kubernetes.NewForConfig(withClientRate(c.kubeConfig))
	if err != nil {
		return nil, err
	}
	// Imports and the webhook find a project's namespaces in the shared
	// informer, which every replica runs.
	quotas, err := quota.NewReader(kube, c.kubeInformers.Core().V1().Namespaces().Informer())
	if err != nil {
		return nil, err
	}
	if err := installAuthGroup(generic, c.generic, kube, c.kubeConfig, quotas, c.clusterName, c.protected); err != nil {
		return nil, err
	}
	if err := c.installClusterParts(generic, kube, quotas, catalog); err != nil {
		return nil, err
	}
	return &Server{GenericAPIServer: generic}, nil
}

// installAuthGroup serves auth.alauda.io; kube is nil when archon runs
// standalone, and then the resources that act on the cluster are left out.
func installAuthGroup(server *genericapiserver.GenericAPIServer, config genericapiserver.CompletedConfig, kube kubernetes.Interface, kubeConfig *restclient.Config,
	quotas *quota.Reader, cluster string, protected protectednamespace.Set) error {
	var namespaces projectstore.NamespaceFinder
	if kube != nil {
		namespaces = func(ctx context.Context, project string) ([]string, error) {
			list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: authv1.NamespaceProjectLabel + "=" + project})
			if err != nil {
				return nil, err
			}
			var names []string
			for _, namespace := range list.Items {
				names = append(names, namespace.Name)
			}
			return names, nil
		}
	}
	projects, projectStatus, err := projectstore.NewStorage(api.Scheme, config.RESTOptionsGetter, cluster, config.Authorization.Authorizer, namespaces)
	if err != nil {
		return err
	}
	server.AddPostStartHookOrDie("project-visibility-index", func(hook genericapiserver.PostStartHookContext) error {
		go projects.RunVisibilityIndex(hook)
		return nil
	})
	group := api.NewAPIGroupInfo(auth.GroupName)
	resources := map[string]rest.Storage{
		"projects":        projects,
		"projects/status": projectStatus,
	}
	if kube != nil {
		archon, err := archonclient.NewForConfig(withClientRate(config.LoopbackClientConfig))
		if err != nil {
			return err
		}
		importer := namespaceimport.NewImporter(cluster, archon.AuthV1().Projects(), kube, quotas, protected)
		imports, err := namespaceimport.NewStorage(api.Scheme, config.RESTOptionsGetter, importer, config.Authorization.Authorizer, protected)
		if err != nil {
			return err
		}
		resources["namespaceimports"] = imports
		server.AddPostStartHookOrDie("namespace-import-recovery", func(hook genericapiserver.PostStartHookContext) error {
			go imports.RecoverInterrupted(hook)
			return nil
		})
		resources["namespacemembers"] = namespacemember.NewREST(kube, kubeConfig, archon.AuthV1().Projects())
	}
	group.VersionedResourcesStorageMap[authv1.SchemeGroupVersion.Version] = resources
	return server.InstallAPIGroup(&group)
}

// installAppGroup serves app.alauda.io: the catalog and application
// exports. kubeConfig is nil when archon runs standalone, and then exports,
// which read the cluster's applications, are left out.
func installAppGroup(server *genericapiserver.GenericAPIServer, catalog *catalogParts, kubeConfig *restclient.Config) error {
	resources := catalog.resources()
	if kubeConfig != nil {
		var err error
		if resources["applicationexports"], err = applicationexport.NewREST(kubeConfig, catalog.charts); err != nil {
			return err
		}
	}
	group := api.NewAPIGroupInfo(app.GroupName)
	group.VersionedResourcesStorageMap[appv1beta1.SchemeGroupVersion.Version] = resources
	return server.InstallAPIGroup(&group)
}

// installClusterParts adds what needs the cluster archon extends: the
// admission webhooks kube-apiserver calls and the controllers. Standalone,
// there is no cluster and none of it runs.
func (c CompletedConfig) installClusterParts(server *genericapiserver.GenericAPIServer, kube kubernetes.Interface, quotas *quota.Reader, catalog *catalogParts) error {
	archon, err := archonclient.NewForConfig(withClientRate(c.generic.LoopbackClientConfig))
	if err != nil {
		return err
	}
	webhook, err := projectnamespace.New(c.clusterName, archon.AuthV1().Projects(), kube, c.generic.Authorization.Authorizer, c.protected,
		quotas, c.kubeInformers.Core().V1().ResourceQuotas().Informer())
	if err != nil {
		return err
	}
	server.Handler.NonGoRestfulMux.HandleFunc(projectnamespace.NamespacesPath, webhook.ServeNamespaces)
	server.Handler.NonGoRestfulMux.HandleFunc(projectnamespace.ResourceQuotasPath, webhook.ServeResourceQuotas)

	informers := &informerFactories{
		kube:   []kubeinformers.SharedInformerFactory{c.kubeInformers},
		archon: archoninformers.NewSharedInformerFactory(archon, 0),
	}
	if err := addControllers(server, c.clusterName, kube, archon, c.registry, informers); err != nil {
		return err
	}
	if err := catalog.addSync(server, archon, kube, informers.archon, c.charts.Resync); err != nil {
		return err
	}
	// Informers run on every replica, controllers only on the leader.
	return server.AddPostStartHook("archon-informers", func(hook genericapiserver.PostStartHookContext) error {
		informers.start(hook.Done())
		return nil
	})
}

// withClientRate lifts client-go's default of 5 requests a second: the
// controllers write two RoleBindings per project namespace and would take
// hours to catch up on a platform of thousands of namespaces.
func withClientRate(config *restclient.Config) *restclient.Config {
	config = restclient.CopyConfig(config)
	config.QPS, config.Burst = 200, 400
	return config
}
