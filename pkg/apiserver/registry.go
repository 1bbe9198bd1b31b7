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
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/acp-archon/archon/pkg/apis/registry"
	registryv1 "github.com/acp-archon/archon/pkg/apis/registry/v1"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/containerregistry/tokenservice"
	"github.com/acp-archon/archon/pkg/registry/registry/image"
)

// RegistryConfig says which container registry archon fronts and how it
// signs the registry's tokens.
type RegistryConfig struct {
	// URL is the registry's API endpoint, https://host:port.
	URL string
	// Host is the registry's host:port as image references name it, for
	// pods and users; the host of URL unless archon reaches the registry
	// by another address.
	Host string
	// CAFile verifies the registry's serving certificate; empty uses the
	// system's roots.
	CAFile string
	// TokenKeyFile is the private key registry tokens are signed with; the
	// registry trusts a certificate of its public key.
	TokenKeyFile string
	// Issuer and Service are the token's issuer and audience, as the
	// registry's token auth is configured.
	Issuer, Service string
	TokenTTL        time.Duration
}

// NotificationsPath is where the registry sends its events.
const NotificationsPath = "/registry/notifications"

// catalogWorkers read notified repositories in parallel.
const catalogWorkers = 4

// registryParts are what archon needs to front the container registry.
type registryParts struct {
	// host is the registry's host:port as image references name it.
	host    string
	catalog *containerregistry.Catalog
	tokens  *tokenservice.Service
}

func newRegistryParts(config genericapiserver.CompletedConfig, registryConfig *RegistryConfig) (*registryParts, error) {
	signer, err := containerregistry.NewSigner(registryConfig.TokenKeyFile, registryConfig.Issuer, registryConfig.Service, registryConfig.TokenTTL)
	if err != nil {
		return nil, err
	}
	transport, err := registryTransport(registryConfig.CAFile)
	if err != nil {
		return nil, err
	}
	client, err := containerregistry.NewClient(registryConfig.URL, transport, signer)
	if err != nil {
		return nil, err
	}
	return &registryParts{
		host:    registryConfig.Host,
		catalog: containerregistry.NewCatalog(client),
		tokens:  tokenservice.New(signer, config.Authentication.Authenticator, config.Authorization.Authorizer, client),
	}, nil
}

// tokenRoute serves the registry's token realm around the server's
// filters (see withDirectRoutes), with its own bounds: a limit on requests
// in flight and a deadline.
func (r *registryParts) tokenRoute() directRoute {
	limited := limitInFlight(r.tokens, maxTokenRequestsInFlight, "too many registry token requests; retry")
	return directRoute{path: tokenservice.Path, handler: http.TimeoutHandler(limited, tokenRequestTimeout, "the registry token request timed out")}
}

const (
	// maxTokenRequestsInFlight bounds concurrent token requests; more get
	// 429 and retry.
	maxTokenRequestsInFlight = 200
	tokenRequestTimeout      = 30 * time.Second
)

// install serves registry.alauda.io and the registry's notification
// endpoint, and keeps the catalogue current once the server runs.
func (r *registryParts) install(server *genericapiserver.GenericAPIServer) error {
	server.AddPostStartHookOrDie("image-catalog", func(hook genericapiserver.PostStartHookContext) error {
		go r.catalog.Run(hook, catalogWorkers)
		return nil
	})
	server.Handler.NonGoRestfulMux.HandleFunc(NotificationsPath, r.catalog.ServeNotifications)

	group := newAPIGroupInfo(registry.GroupName)
	group.VersionedResourcesStorageMap[registryv1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"images": image.NewREST(r.catalog),
	}
	return server.InstallAPIGroup(&group)
}

func registryTransport(caFile string) (http.RoundTripper, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return transport, nil
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("registry CA: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("registry CA %s holds no PEM certificate", caFile)
	}
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return transport, nil
}
