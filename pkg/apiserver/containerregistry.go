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
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apiserver/pkg/authentication/request/union"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/containerregistry/tokenservice"
	"github.com/acp-archon/archon/pkg/requestauth"
)

// ContainerRegistryConfig says which container registry archon fronts and
// how it signs the registry's tokens.
type ContainerRegistryConfig struct {
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
	// NotificationsTokenFile holds the secret the registry sends with its
	// notifications, as a bearer token; empty leaves notifications out and
	// images follow the registry at each resync.
	NotificationsTokenFile string
}

// NotificationsPath is where the registry sends its events.
const NotificationsPath = "/registry/notifications"

// imageCacheWorkers read notified repositories in parallel.
const imageCacheWorkers = 4

// containerRegistryParts are what archon needs to front the container
// registry: the image cache behind images.registry.alauda.io, the token
// realm, and the notifications that keep the cache current.
type containerRegistryParts struct {
	// host is the registry's host:port as image references name it.
	host   string
	cache  *containerregistry.ImageCache
	tokens *tokenservice.Service
	// notificationsToken is the registry's notification secret; nil when
	// notifications are off.
	notificationsToken []byte
}

// newContainerRegistryParts builds the registry's parts. When archon
// extends a cluster, the token realm also accepts Kubernetes tokens issued
// for the registry alone (pull secrets hold such tokens).
func newContainerRegistryParts(config genericapiserver.CompletedConfig, clients clients, registry *ContainerRegistryConfig) (*containerRegistryParts, error) {
	signer, err := containerregistry.NewSigner(registry.TokenKeyFile, registry.Issuer, registry.Service, registry.TokenTTL)
	if err != nil {
		return nil, err
	}
	transport, err := registryTransport(registry.CAFile)
	if err != nil {
		return nil, err
	}
	client, err := containerregistry.NewClient(registry.URL, transport, signer)
	if err != nil {
		return nil, err
	}
	authn := config.Authentication.Authenticator
	if !clients.standalone() {
		registryTokens, err := requestauth.Audience(clients.kube.AuthenticationV1(), registry.Service)
		if err != nil {
			return nil, err
		}
		// Registry tokens first: the server's authenticator answers
		// anonymous for a token it does not accept, which ends a union.
		// Tokens for other audiences pass through it unreviewed.
		authn = union.New(registryTokens, authn)
	}
	parts := &containerRegistryParts{
		host:   registry.Host,
		cache:  containerregistry.NewImageCache(client),
		tokens: tokenservice.New(signer, authn, config.Authorization.Authorizer, client),
	}
	if registry.NotificationsTokenFile == "" {
		klog.InfoS("Registry notifications are off (no --registry-notifications-token-file): images follow the registry at each resync")
		return parts, nil
	}
	token, err := os.ReadFile(registry.NotificationsTokenFile)
	if err != nil {
		return nil, fmt.Errorf("registry notifications token: %w", err)
	}
	if len(bytes.TrimSpace(token)) < minNotificationsTokenBytes {
		return nil, fmt.Errorf("registry notifications token %s: want at least %d characters of secret", registry.NotificationsTokenFile, minNotificationsTokenBytes)
	}
	parts.notificationsToken = token
	return parts, nil
}

// routes serve the registry's token realm and its notifications around
// the server's filters (see withDirectRoutes), with their own bounds: a
// limit on requests in flight and a deadline. The token realm
// authenticates Kubernetes credentials; notifications carry the secret the
// registry is configured with.
func (r *containerRegistryParts) routes() []directRoute {
	limited := limitInFlight(r.tokens, maxTokenRequestsInFlight, "too many registry token requests; retry")
	routes := []directRoute{{path: tokenservice.Path, handler: http.TimeoutHandler(limited, tokenRequestTimeout, "the registry token request timed out")}}
	if r.notificationsToken != nil {
		notifications := limitInFlight(requestauth.SharedToken(r.notificationsToken, http.HandlerFunc(r.cache.ServeNotifications)),
			maxNotificationsInFlight, "too many registry notifications; retry")
		routes = append(routes, directRoute{path: NotificationsPath, handler: http.TimeoutHandler(notifications, tokenRequestTimeout, "the notification timed out")})
	}
	return routes
}

// repositoriesUnder lists the registry's repositories under path from the
// image cache, so that an OCI chart repository in the platform registry
// needs no credentials allowing the registry's whole catalog: its tags and
// charts are still read with the repository's own.
func (r *containerRegistryParts) repositoriesUnder(ctx context.Context, _, path string, _ ...remote.Option) ([]string, error) {
	if err := r.cache.WaitForSync(ctx); err != nil {
		return nil, err
	}
	images, _ := r.cache.List(func(image *imageapi.Image) bool {
		return strings.HasPrefix(image.Status.Repository, path+"/")
	})
	repositories := make([]string, 0, len(images))
	for _, image := range images {
		repositories = append(repositories, image.Status.Repository)
	}
	return repositories, nil
}

const (
	// maxTokenRequestsInFlight bounds concurrent token requests; more get
	// 429 and retry.
	maxTokenRequestsInFlight = 200
	tokenRequestTimeout      = 30 * time.Second
	// maxNotificationsInFlight bounds concurrent notifications; the
	// registry retries what gets 429.
	maxNotificationsInFlight = 20
	// minNotificationsTokenBytes keeps the notification secret unguessable.
	minNotificationsTokenBytes = 16
)

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
