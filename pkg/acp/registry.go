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

package acp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/rest"
)

// registryAccess is how the commands reach the registry as the kubeconfig's
// user: its token as the password of basic authentication, or its client
// certificate, which the token service accepts as kube-apiserver does.
type registryAccess struct {
	auth      authn.Authenticator
	transport http.RoundTripper
	// token is empty when the user authenticates with a certificate.
	token string
}

func (o *options) registryAccess(config *rest.Config, token string) (*registryAccess, error) {
	if token == "" {
		token = config.BearerToken
	}
	if token == "" && config.BearerTokenFile != "" {
		data, err := os.ReadFile(config.BearerTokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(data))
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if o.registryCA != "" {
		caPEM, err := os.ReadFile(o.registryCA)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		if !roots.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("registry CA %s holds no PEM certificate", o.registryCA)
		}
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	access := &registryAccess{auth: authn.Anonymous, token: token}
	if token != "" {
		access.auth = &authn.Basic{Username: "kubernetes", Password: token}
	} else {
		certificate, err := clientCertificate(config)
		if err != nil {
			return nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{certificate}
	}
	transport := remote.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	access.transport = transport
	return access, nil
}

func clientCertificate(config *rest.Config) (tls.Certificate, error) {
	certPEM, keyPEM := config.CertData, config.KeyData
	var err error
	if len(certPEM) == 0 && config.CertFile != "" {
		if certPEM, err = os.ReadFile(config.CertFile); err != nil {
			return tls.Certificate{}, err
		}
	}
	if len(keyPEM) == 0 && config.KeyFile != "" {
		if keyPEM, err = os.ReadFile(config.KeyFile); err != nil {
			return tls.Certificate{}, err
		}
	}
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return tls.Certificate{}, errors.New("the kubeconfig's user has neither a token nor a client certificate the registry can use " +
			"(exec and auth-provider plugins are not read); pass --token")
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func (a *registryAccess) options() []remote.Option {
	return []remote.Option{remote.WithAuth(a.auth), remote.WithTransport(a.transport)}
}
