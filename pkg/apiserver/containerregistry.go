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
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/api"
	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/containerregistry/tokenservice"
	"github.com/acp-archon/archon/pkg/registry/image/image"
	"github.com/acp-archon/archon/pkg/requestauth"
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
	// NotificationsTokenFile holds the secret the registry sends with its
	// notifications, as a bearer token; empty leaves notifications out and
	// images follow the registry at each resync.
	NotificationsTokenFile string
}

// NotificationsPath is where the registry sends its events.
const NotificationsPath = "/registry/notifications"

// catalogWorkers read notified repositories in parallel.
const catalogWorkers = 4

// registryParts are what archon needs to front the container registry.
type registryParts struct {
	// host is the registry's host:port as image references name it.
	host    string
	catalog *containerregistry.ImageCache
	tokens  *tokenservice.Service
	// notificationsToken is the registry's notification secret; nil when
	// notifications are off.
	notificationsToken []byte
}

// kubeConfig reaches the cluster, whose TokenReviews also accept tokens
// issued for the registry alone (pull secrets hold such tokens); nil when
// archon runs standalone.
func newRegistryParts(config genericapiserver.CompletedConfig, kubeConfig *restclient.Config, registryConfig *RegistryConfig) (*registryParts, error) {
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
	authn := config.Authentication.Authenticator
	if kubeConfig != nil {
		kube, err := kubernetes.NewForConfig(withClientRate(kubeConfig))
		if err != nil {
			return nil, err
		}
		registryTokens, err := requestauth.Audience(kube.AuthenticationV1(), registryConfig.Service)
		if err != nil {
			return nil, err
		}
		// Registry tokens first: the server's authenticator answers
		// anonymous for a token it does not accept, which ends a union.
		// Tokens for other audiences pass through it unreviewed.
		authn = union.New(registryTokens, authn)
	}
	parts := &registryParts{
		host:    registryConfig.Host,
		catalog: containerregistry.NewImageCache(client),
		tokens:  tokenservice.New(signer, authn, config.Authorization.Authorizer, client),
	}
	if registryConfig.NotificationsTokenFile == "" {
		klog.InfoS("Registry notifications are off (no --registry-notifications-token-file): images follow the registry at each resync")
		return parts, nil
	}
	token, err := os.ReadFile(registryConfig.NotificationsTokenFile)
	if err != nil {
		return nil, fmt.Errorf("registry notifications token: %w", err)
	}
	if len(bytes.TrimSpace(token)) < minNotificationsTokenBytes {
		return nil, fmt.Errorf("registry notifications token %s: want at least %d characters of secret", registryConfig.NotificationsTokenFile, minNotificationsTokenBytes)
	}
	parts.notificationsToken = token
	return parts, nil
}

// routes serve the registry's token realm and its notifications around
// the server's filters (see withDirectRoutes), with their own bounds: a
// limit on requests in flight and a deadline. The token realm
// authenticates Kubernetes credentials; notifications carry the secret the
// registry is configured with.
func (r *registryParts) routes() []directRoute {
	limited := limitInFlight(r.tokens, maxTokenRequestsInFlight, "too many registry token requests; retry")
	routes := []directRoute{{path: tokenservice.Path, handler: http.TimeoutHandler(limited, tokenRequestTimeout, "the registry token request timed out")}}
	if r.notificationsToken != nil {
		notifications := limitInFlight(requestauth.SharedToken(r.notificationsToken, http.HandlerFunc(r.catalog.ServeNotifications)),
			maxNotificationsInFlight, "too many registry notifications; retry")
		routes = append(routes, directRoute{path: NotificationsPath, handler: http.TimeoutHandler(notifications, tokenRequestTimeout, "the notification timed out")})
	}
	return routes
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

// install serves registry.alauda.io and keeps the catalog current once
// the server runs.
func (r *registryParts) install(server *genericapiserver.GenericAPIServer) error {
	server.AddPostStartHookOrDie("image-catalog", func(hook genericapiserver.PostStartHookContext) error {
		go r.catalog.Run(hook, catalogWorkers)
		return nil
	})

	group := api.NewAPIGroupInfo(imageapi.GroupName)
	group.VersionedResourcesStorageMap[imagev1.SchemeGroupVersion.Version] = map[string]rest.Storage{
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
