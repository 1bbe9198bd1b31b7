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

// Package apiserver assembles archon: the storage of its API groups, the
// webhooks kube-apiserver calls, the routes served around the filters and
// the background tasks, on a generic API server. Reading order: config.go
// (what a server is built from), this file (what New builds, in order),
// groups.go (one provider per API group), background.go (what runs where).
package apiserver

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kubeinformers "k8s.io/client-go/informers"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/record"

	"github.com/acp-archon/archon/pkg/api"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/controller/applicationstatus"
	"github.com/acp-archon/archon/pkg/controller/nodeisolation"
	"github.com/acp-archon/archon/pkg/controller/projectrbac"
	"github.com/acp-archon/archon/pkg/controller/projectstatus"
	"github.com/acp-archon/archon/pkg/controller/pullsecret"
	"github.com/acp-archon/archon/pkg/controller/templateapplication"
	uidrangecontroller "github.com/acp-archon/archon/pkg/controller/uidrange"
	archonscheme "github.com/acp-archon/archon/pkg/generated/clientset/versioned/scheme"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
	"github.com/acp-archon/archon/pkg/registry/app/applicationexport"
	"github.com/acp-archon/archon/pkg/registry/app/applicationmembership"
	"github.com/acp-archon/archon/pkg/registry/app/applicationrollback"
	"github.com/acp-archon/archon/pkg/registry/app/applicationscale"
	"github.com/acp-archon/archon/pkg/registry/app/applicationsnapshot"
	"github.com/acp-archon/archon/pkg/registry/auth/namespaceimport"
	"github.com/acp-archon/archon/pkg/registry/auth/namespacemember"
	projectstore "github.com/acp-archon/archon/pkg/registry/auth/project"
	"github.com/acp-archon/archon/pkg/registry/resource/namespaceresourceratio"
	"github.com/acp-archon/archon/pkg/registry/resource/nodegroup"
	"github.com/acp-archon/archon/pkg/templateapp"
	"github.com/acp-archon/archon/pkg/webhook/applicationcomponent"
	"github.com/acp-archon/archon/pkg/webhook/podpolicy"
	"github.com/acp-archon/archon/pkg/webhook/projectnamespace"
	"github.com/acp-archon/archon/pkg/webhook/templaterequester"
)

// Server is a configured archon API server, ready to run.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// assembly is everything New builds around the generic server. Fields
// that need the cluster are nil when archon runs standalone; images is nil
// without a container registry.
type assembly struct {
	*completedConfig

	projects      *projectstore.REST
	projectStatus *projectstore.StatusREST
	imports       *namespaceimport.REST
	members       *namespacemember.REST
	exports       *applicationexport.REST
	snapshots     *applicationsnapshot.REST
	stops, starts *applicationscale.REST
	appImports    *applicationmembership.REST
	removals      *applicationmembership.REST
	rollbacks     *applicationrollback.REST
	charts        *chartParts
	images        *containerRegistryParts
	webhook       *projectnamespace.Webhook
	components    *applicationcomponent.Webhook
	requesters    *templaterequester.Webhook
	ratios        *namespaceresourceratio.REST
	nodeGroups    *nodegroup.REST
	pods          *podpolicy.Webhook
	// signer signs and verifies template applications' requesters.
	signer *templateapp.Signer
	// applications is the informer factory of applications, read by the
	// component webhooks on every replica and by application-status.
	applications dynamicinformer.DynamicSharedInformerFactory

	controllers []namedController
	// recorder writes application revisions.
	recorder  *application.Recorder
	informers informerFactories
	// events sends the controllers' Events to kube-apiserver.
	events record.EventBroadcaster
}

// namedController is a controller and what its background task needs.
type namedController struct {
	name, needs string
	controller  interface {
		Run(ctx context.Context, workers int)
	}
}

// informerFactories are started together by the archon-informers task.
type informerFactories []interface{ Start(stopCh <-chan struct{}) }

func (f informerFactories) start(ctx context.Context) {
	for _, factory := range f {
		factory.Start(ctx.Done())
	}
}

// New builds the server: storage, webhooks and controllers first, then
// the generic server with the direct routes around its filters, then its
// API groups, webhook paths and background tasks.
func (c CompletedConfig) New() (*Server, error) {
	s := &assembly{completedConfig: c.completedConfig}
	if err := s.build(); err != nil {
		return nil, err
	}
	c.generic.BuildHandlerChainFunc = withDirectRoutes(c.generic.BuildHandlerChainFunc, s.directRoutes())
	generic, err := c.generic.New("archon-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	for _, group := range s.apiGroups() {
		if err := generic.InstallAPIGroup(&group); err != nil {
			return nil, err
		}
	}
	if s.webhook != nil {
		generic.Handler.NonGoRestfulMux.HandleFunc(projectnamespace.NamespacesPath, s.webhook.ServeNamespaces)
		generic.Handler.NonGoRestfulMux.HandleFunc(projectnamespace.ResourceQuotasPath, s.webhook.ServeResourceQuotas)
		generic.Handler.NonGoRestfulMux.HandleFunc(applicationcomponent.ComponentsPath, s.components.ServeComponents)
		generic.Handler.NonGoRestfulMux.HandleFunc(applicationcomponent.OwnersPath, s.components.ServeOwners)
		generic.Handler.NonGoRestfulMux.HandleFunc(applicationcomponent.ApplicationsPath, s.components.ServeApplications)
		generic.Handler.NonGoRestfulMux.HandleFunc(templaterequester.Path, s.requesters.Serve)
		generic.Handler.NonGoRestfulMux.HandleFunc(podpolicy.Path, s.pods.Serve)
		generic.Handler.NonGoRestfulMux.HandleFunc(podpolicy.NamespacesPath, s.pods.ServeNamespaces)
		if err := generic.AddReadyzChecks(healthz.NamedCheck("pod-policies-webhook", s.pods.Ready)); err != nil {
			return nil, err
		}
		// The component webhooks refuse every review until they have read
		// the applications: a replica is not ready before.
		if err := generic.AddReadyzChecks(healthz.NamedCheck("application-components-webhook", s.components.Ready)); err != nil {
			return nil, err
		}
	}
	if s.events != nil {
		if err := generic.AddPreShutdownHook("archon-events", func() error {
			s.events.Shutdown()
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := addBackgroundTasks(generic, s.backgroundTasks(), c.clients.kube, c.extra.Controllers.LeaderElection); err != nil {
		return nil, err
	}
	return &Server{GenericAPIServer: generic}, nil
}

// build makes every part in dependency order: projects, the container
// registry, the chart catalog, then what acts on the cluster.
func (s *assembly) build() error {
	var err error
	if s.projects, s.projectStatus, err = projectstore.NewStorage(api.Scheme, s.generic.RESTOptionsGetter, s.extra.ClusterName,
		s.generic.Authorization.Authorizer, s.projectNamespaces()); err != nil {
		return err
	}
	if s.extra.Registry != nil {
		if s.images, err = newContainerRegistryParts(s.generic, s.clients, s.extra.Registry); err != nil {
			return err
		}
	}
	if s.charts, err = newChartParts(s.generic, s.clients, s.extra.Charts, s.images); err != nil {
		return err
	}
	overcommit := namespaceresourceratio.ClusterRatios{CPU: s.extra.Overcommit.CPU, Memory: s.extra.Overcommit.Memory}
	if s.ratios, err = namespaceresourceratio.NewStorage(api.Scheme, s.generic.RESTOptionsGetter, overcommit); err != nil {
		return err
	}
	if s.nodeGroups, err = nodegroup.NewStorage(api.Scheme, s.generic.RESTOptionsGetter); err != nil {
		return err
	}
	if s.clients.standalone() {
		return nil
	}

	kube, archon := s.clients.kube, s.clients.archon
	// Imports and the webhook find a project's namespaces in the shared
	// informer, which every replica runs.
	quotas, err := quota.NewReader(kube, s.clients.kubeInformers.Core().V1().Namespaces().Informer())
	if err != nil {
		return err
	}
	importer := namespaceimport.NewImporter(s.extra.ClusterName, archon.AuthV1().Projects(), kube, quotas, s.protected)
	if s.imports, err = namespaceimport.NewStorage(api.Scheme, s.generic.RESTOptionsGetter, importer, s.generic.Authorization.Authorizer, s.protected); err != nil {
		return err
	}
	s.members = namespacemember.NewREST(kube, s.clients.kubeConfig, archon.AuthV1().Projects())
	// Operations on applications read them as the caller, and find the
	// resources of their components through one discovery cache.
	reader, err := application.NewReader(s.clients.kubeConfig)
	if err != nil {
		return err
	}
	s.exports = applicationexport.NewREST(s.clients.kubeConfig, reader, s.charts.charts)
	recorder := application.NewRecorder(s.clients.kubeDynamic)
	s.recorder = recorder
	s.snapshots = applicationsnapshot.NewREST(s.clients.kubeConfig, reader, recorder)
	s.stops = applicationscale.NewStopREST(s.clients.kubeConfig, reader, recorder)
	s.starts = applicationscale.NewStartREST(s.clients.kubeConfig, reader, recorder)
	s.appImports = applicationmembership.NewImportREST(s.clients.kubeConfig, reader, recorder)
	s.removals = applicationmembership.NewRemovalREST(s.clients.kubeConfig, reader, recorder)
	s.rollbacks = applicationrollback.NewREST(s.clients.kubeConfig, reader, recorder)
	s.applications = dynamicinformer.NewDynamicSharedInformerFactory(s.clients.kubeDynamic, 0)
	ratios := s.clients.archonInformers.Resource().V1().NamespaceResourceRatios()
	limitRanges := s.clients.kubeInformers.Core().V1().LimitRanges()
	namespaces := s.clients.kubeInformers.Core().V1().Namespaces()
	policies := s.clients.archonInformers.Resource().V1().NodeGroups()
	s.pods = podpolicy.New(ratios.Lister(), limitRanges.Lister(), namespaces.Lister(), policies.Lister(),
		podpolicy.ClusterRatios{CPU: s.extra.Overcommit.CPU, Memory: s.extra.Overcommit.Memory},
		ratios.Informer().HasSynced, limitRanges.Informer().HasSynced, namespaces.Informer().HasSynced, policies.Informer().HasSynced)
	s.signer = templateapp.NewSigner(kube.CoreV1().Secrets(protectednamespace.ArchonNamespace))
	s.requesters = templaterequester.New(s.signer)
	s.components = applicationcomponent.New(s.applications.ForResource(application.Resource), kube, s.clients.kubeDynamic,
		s.clients.kubeConfig, reader)
	if s.webhook, err = projectnamespace.New(s.extra.ClusterName, archon.AuthV1().Projects(), kube, s.generic.Authorization.Authorizer,
		s.protected, quotas, s.clients.kubeInformers.Core().V1().ResourceQuotas().Informer()); err != nil {
		return err
	}
	return s.buildControllers()
}

// buildControllers makes the controllers that run on the leader and the
// informer factories they read, narrowed to what each one owns.
func (s *assembly) buildControllers() error {
	kube, archon, shared := s.clients.kube, s.clients.archon, s.clients.kubeInformers
	s.events = record.NewBroadcaster()
	s.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return s.events.NewRecorder(archonscheme.Scheme, corev1.EventSource{Component: component})
	}

	ownedRBAC, seats := projectrbac.NewOwnedInformers(kube), projectrbac.NewSeatInformers(kube)
	rbac, err := projectrbac.New(kube, archon, recorder("archon-project-rbac"), shared, ownedRBAC, seats, s.clients.archonInformers)
	if err != nil {
		return err
	}
	status, err := projectstatus.New(s.extra.ClusterName, archon, shared, s.clients.archonInformers)
	if err != nil {
		return err
	}
	// Application status reads applications from the factory the
	// webhooks share, workloads and the metadata of other components
	// through factories of its own: only the controller needs them.
	applications := s.applications
	workloads := kubeinformers.NewSharedInformerFactory(kube, 0)
	components := metadatainformer.NewSharedInformerFactory(s.clients.kubeMetadata, 0)
	applicationStatus, err := applicationstatus.New(s.clients.kubeDynamic, applications, workloads, components)
	if err != nil {
		return err
	}
	templates, err := s.templateApplications()
	if err != nil {
		return err
	}
	uidRanges, err := uidrangecontroller.New(kube, shared)
	if err != nil {
		return err
	}
	isolation, err := nodeisolation.New(kube, shared, s.clients.archonInformers)
	if err != nil {
		return err
	}
	s.informers = informerFactories{shared, s.clients.archonInformers, ownedRBAC, seats, applications, workloads, components}
	s.controllers = []namedController{
		{"project-rbac", "projects, namespaces, RoleBindings and ClusterRoles archon labeled; writes RBAC", rbac},
		{"project-status", "projects, namespaces and quotas; writes project status", status},
		{"application-status", "applications, workloads and the metadata of other components; writes application status", applicationStatus},
		{"template-applications", "template applications, chart repositories and helm's release records; installs, upgrades and uninstalls charts as each requester",
			templates},
		{"uid-ranges", "namespaces; hands out and frees their UID/GID ranges (annotations)", uidRanges},
		{"node-isolation", "node isolation policies and nodes; labels and taints the policies' nodes", isolation},
	}
	if s.images != nil {
		secrets, bindings := pullsecret.NewOwnedInformers(kube)
		serviceAccounts := pullsecret.NewDefaultServiceAccountInformers(kube)
		pullSecrets, err := pullsecret.New(kube, recorder("archon-pull-secrets"), s.images.host, s.extra.Registry.Service, shared, secrets, bindings, serviceAccounts)
		if err != nil {
			return err
		}
		s.informers = append(s.informers, secrets, bindings, serviceAccounts)
		s.controllers = append(s.controllers, namedController{"pull-secrets",
			"namespaces and default ServiceAccounts; writes pull secrets with registry tokens", pullSecrets})
	}
	return nil
}

// templateApplications is the controller of template applications: helm
// acting as each application's requester, charts from the catalog.
func (s *assembly) templateApplications() (*templateapplication.Controller, error) {
	helm, err := templateapp.NewHelm(s.clients.kubeConfig, s.signer)
	if err != nil {
		return nil, err
	}
	reviews := s.clients.kube.AuthorizationV1().SubjectAccessReviews()
	charts := templateapp.NewCharts(s.clients.archonInformers.App().V1beta1().ChartRepos().Lister(), s.charts.local, s.charts.packages,
		s.charts.sync.Credentials, reviews)
	return templateapplication.New(s.clients.kubeDynamic, s.applications, helm, charts, templateapp.NewChecker(helm.Mapper(), reviews), s.recorder,
		s.signer)
}

// projectNamespaces finds a project's namespaces by their label; nil
// standalone, where projects own no namespaces.
func (s *assembly) projectNamespaces() projectstore.NamespaceFinder {
	if s.clients.standalone() {
		return nil
	}
	kube := s.clients.kube
	return func(ctx context.Context, project string) ([]string, error) {
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

// directRoutes are the paths served around the filters: helm's reads of
// Local repositories, and the container registry's token realm and
// notifications.
func (s *assembly) directRoutes() []directRoute {
	routes := []directRoute{{path: helmrepo.PathPrefix, handler: s.charts.server}}
	if s.images != nil {
		routes = append(routes, s.images.routes()...)
	}
	return routes
}
