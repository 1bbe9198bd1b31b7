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
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"

	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/controller/chartreposync"
	"github.com/acp-archon/archon/pkg/egress"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/registry/app/chart"
	chartrepostore "github.com/acp-archon/archon/pkg/registry/app/chartrepo"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// ChartsConfig says where Local repositories keep their charts and how
// remote repositories are synchronized.
type ChartsConfig struct {
	// StorageDir holds the packages of Local repositories.
	StorageDir string
	// Limits bound an uploaded chart archive.
	Limits helmrepo.Limits
	// Resync is how often remote repositories are fetched again.
	Resync time.Duration
	// AllowedAddresses are the internal addresses (CIDRs, or IP:port)
	// remote repositories may be read from; every other loopback,
	// link-local, private or cluster address is refused.
	AllowedAddresses []string
}

// maxChartRequestsInFlight bounds concurrent reads of Local repositories
// by helm; more get 429 and retry.
const maxChartRequestsInFlight = 400

// catalogParts are the chart catalog: repositories in etcd, their charts
// in memory, Local repositories on disk and served to helm.
type catalogParts struct {
	repositories *chartrepostore.REST
	status       *chartrepostore.StatusREST
	charts       *chartrepostore.ChartsREST
	local        *helmrepo.Local
	server       http.Handler
	// sync runs when archon extends a cluster; it reads secrets.
	sync *chartreposync.Controller
	// platformRegistry lists the repositories of the registry archon
	// fronts from its catalog, when it fronts one.
	platformRegistry     string
	platformRepositories helmrepo.OCIRepositories
	platformImages       *containerregistry.ImageCache
	// egress says where remote repositories may be read from.
	egress *egress.Policy
}

func newCatalogParts(config genericapiserver.CompletedConfig, charts ChartsConfig) (*catalogParts, error) {
	repositories, status, err := chartrepostore.NewStorage(api.Scheme, config.RESTOptionsGetter, config.Authorization.Authorizer)
	if err != nil {
		return nil, err
	}
	store, err := helmrepo.NewStore(charts.StorageDir, charts.Limits)
	if err != nil {
		return nil, err
	}
	policy, err := egress.New(charts.AllowedAddresses)
	if err != nil {
		return nil, err
	}
	parts := &catalogParts{repositories: repositories, status: status, local: helmrepo.NewLocal(store, helmrepo.NewCatalog()), egress: policy}
	// helm's reads find the repository in the synchronizer's cache, and
	// in etcd when it is not there (yet).
	getRepository := func(ctx context.Context, namespace, name string) (types.UID, app.ChartRepoType, error) {
		if parts.sync != nil {
			if uid, repoType, ok := parts.sync.Repository(namespace, name); ok {
				return uid, app.ChartRepoType(repoType), nil
			}
		}
		obj, err := repositories.Get(genericapirequest.WithNamespace(ctx, namespace), name, &metav1.GetOptions{})
		if err != nil {
			return "", "", err
		}
		repo := obj.(*app.ChartRepo)
		return repo.UID, repo.Spec.Type, nil
	}
	parts.charts = chartrepostore.NewChartsREST(repositories, parts.local, config.Authorization.Authorizer, parts.changed)
	server := helmrepo.NewServer(config.Authentication.Authenticator, config.Authorization.Authorizer, getRepository, parts.local)
	parts.server = limitInFlight(server, maxChartRequestsInFlight, "too many chart repository requests; retry")
	return parts, nil
}

// resources are the catalog's resources of app.alauda.io.
func (p *catalogParts) resources() map[string]rest.Storage {
	return map[string]rest.Storage{
		"chartrepos":        p.repositories,
		"chartrepos/status": p.status,
		"chartrepos/charts": p.charts,
		"charts":            chart.NewREST(p.local.Catalog()),
	}
}

// changed has the repository's status written again after its charts
// changed.
func (p *catalogParts) changed(repository types.NamespacedName) {
	if p.sync != nil {
		p.sync.Changed(repository)
	}
}

// listPlatformRepositories reads the platform registry's repositories
// from archon's catalog of it, so that an OCI repository there needs
// no credentials allowing the registry's whole catalog: the tags and
// charts are still read with the repository's own.
func (p *catalogParts) listPlatformRepositories(registry *registryParts) {
	p.platformRegistry = registry.host
	p.platformImages = registry.catalog
	p.platformRepositories = func(ctx context.Context, _, path string, _ ...remote.Option) ([]string, error) {
		if err := registry.catalog.WaitForSync(ctx); err != nil {
			return nil, err
		}
		images, _ := registry.catalog.List(func(image *imageapi.Image) bool {
			return strings.HasPrefix(image.Status.Repository, path+"/")
		})
		repositories := make([]string, 0, len(images))
		for _, image := range images {
			repositories = append(repositories, image.Status.Repository)
		}
		return repositories, nil
	}
}

// addSync synchronizes the repositories on every replica: each serves
// charts from its own catalog.
func (p *catalogParts) addSync(server *genericapiserver.GenericAPIServer, archon archonclient.Interface, kube kubernetes.Interface,
	informers archoninformers.SharedInformerFactory, resync time.Duration) error {
	oci := helmrepo.NewOCIFetcher(func(registry string) helmrepo.OCIRepositories {
		if registry == p.platformRegistry && p.platformRepositories != nil {
			return p.platformRepositories
		}
		return helmrepo.RegistryCatalog
	}, p.egress)
	sync, err := chartreposync.New(archon, kube, informers, p.local, helmrepo.NewIndexFetcher(p.egress), oci, resync)
	if err != nil {
		return err
	}
	p.sync = sync
	return server.AddPostStartHook("chartrepo-sync", func(hook genericapiserver.PostStartHookContext) error {
		go sync.Run(hook, 2)
		if p.platformImages != nil {
			go p.followPlatformRegistry(hook)
		}
		return nil
	})
}

// followPlatformRegistry tells the synchronizer of every change to the
// platform registry's repositories, so that a chart pushed there shows in
// its OCI repositories at once rather than at the next resync.
func (p *catalogParts) followPlatformRegistry(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		_, revision := p.platformImages.List(func(*imageapi.Image) bool { return false })
		changes, err := p.platformImages.Watch(ctx, changefeed.WatchOptions{ResourceVersion: strconv.FormatUint(revision, 10)},
			func(*imageapi.Image) bool { return true })
		if err != nil {
			return
		}
		defer changes.Stop()
		for event := range changes.ResultChan() {
			if image, ok := event.Object.(*imageapi.Image); ok && event.Type != watch.Bookmark {
				p.sync.RegistryChanged(p.platformRegistry, image.Status.Repository)
			}
		}
	}, time.Second)
}
