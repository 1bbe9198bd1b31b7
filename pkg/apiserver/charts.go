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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/controller/chartreposync"
	"github.com/acp-archon/archon/pkg/egress"
	"github.com/acp-archon/archon/pkg/helmrepo"
	chartrepostore "github.com/acp-archon/archon/pkg/registry/app/chartrepo"
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

// chartParts are the chart catalog: repositories in etcd, their charts in
// memory, Local repositories on disk and served to helm.
type chartParts struct {
	repositories *chartrepostore.REST
	status       *chartrepostore.StatusREST
	charts       *chartrepostore.ChartsREST
	local        *helmrepo.Local
	// server answers helm's reads of Local repositories.
	server http.Handler
	// sync fills the catalog from the repositories; nil standalone, where
	// it cannot read the repositories' secrets.
	sync *chartreposync.Controller
	// packages downloads the packages of Chart and OCI repositories for
	// template applications.
	packages *helmrepo.PackageFetcher
}

// newChartParts builds the catalog. images, when archon fronts a container
// registry, lists that registry's repositories for OCI chart repositories
// in it.
func newChartParts(config genericapiserver.CompletedConfig, clients clients, charts ChartsConfig, images *containerRegistryParts) (*chartParts, error) {
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
	p := &chartParts{repositories: repositories, status: status, local: helmrepo.NewLocal(store, helmrepo.NewCatalog()),
		packages: helmrepo.NewPackageFetcher(policy, charts.Limits.Archive)}
	if !clients.standalone() {
		oci := helmrepo.NewOCIFetcher(func(registry string) helmrepo.OCIRepositories {
			if images != nil && registry == images.host {
				return images.repositoriesUnder
			}
			return helmrepo.RegistryCatalog
		}, policy)
		if p.sync, err = chartreposync.New(clients.archon, clients.kube, clients.archonInformers, p.local,
			helmrepo.NewIndexFetcher(policy), oci, charts.Resync); err != nil {
			return nil, err
		}
	}
	p.charts = chartrepostore.NewChartsREST(repositories, p.local, config.Authorization.Authorizer, p.changed)
	server := helmrepo.NewServer(config.Authentication.Authenticator, config.Authorization.Authorizer, p.repository, p.local)
	p.server = limitInFlight(server, maxChartRequestsInFlight, "too many chart repository requests; retry")
	return p, nil
}

// repository finds a repository helm reads in the synchronizer's cache,
// and in etcd when it is not there (yet).
func (p *chartParts) repository(ctx context.Context, namespace, name string) (types.UID, app.ChartRepoType, error) {
	if p.sync != nil {
		if uid, repoType, ok := p.sync.Repository(namespace, name); ok {
			return uid, app.ChartRepoType(repoType), nil
		}
	}
	obj, err := p.repositories.Get(genericapirequest.WithNamespace(ctx, namespace), name, &metav1.GetOptions{})
	if err != nil {
		return "", "", err
	}
	repo := obj.(*app.ChartRepo)
	return repo.UID, repo.Spec.Type, nil
}

// changed has the repository's status written again after its charts
// changed.
func (p *chartParts) changed(repository types.NamespacedName) {
	if p.sync != nil {
		p.sync.Changed(repository)
	}
}
