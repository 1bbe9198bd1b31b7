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

package helmrepo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/acp-archon/archon/pkg/egress"
)

const (
	// maxIndexSize bounds a remote index.yaml, whose parsing takes tens of
	// times its size for a moment; the largest public repositories'
	// indexes are around 20 MiB.
	maxIndexSize = 32 << 20
	fetchTimeout = 30 * time.Second
)

// Credentials are what a repository's secret holds: a username and
// password for basic authentication, a CA to trust, and a client
// certificate.
type Credentials struct {
	Username, Password string
	CA, Cert, Key      []byte
}

// hasSecrets says whether the credentials hold anything to keep from
// plain HTTP.
func (c Credentials) hasSecrets() bool {
	return c.Username != "" || c.Password != "" || len(c.Cert) > 0 || len(c.Key) > 0
}

// IndexFetcher reads the index.yaml of helm repositories over HTTP(S),
// connecting only where its egress policy allows.
type IndexFetcher struct {
	policy *egress.Policy
}

// NewIndexFetcher returns a fetcher that connects where policy allows.
func NewIndexFetcher(policy *egress.Policy) *IndexFetcher { return &IndexFetcher{policy: policy} }

// Fetch reads the index.yaml of the helm repository at repositoryURL.
// Errors say what failed and where, never what the server answered
// beyond its status: the URL is the user's choice.
func (f *IndexFetcher) Fetch(ctx context.Context, repositoryURL string, credentials Credentials) (*IndexFile, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	indexURL := strings.TrimSuffix(repositoryURL, "/") + "/index.yaml"
	resp, done, err := get(ctx, f.policy, indexURL, indexURL, credentials, true)
	if err != nil {
		return nil, err
	}
	defer done()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", indexURL, err)
	}
	if len(data) > maxIndexSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", indexURL, maxIndexSize)
	}
	index, err := ParseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", indexURL, err)
	}
	return index, nil
}

// get GETs target with a client connecting where policy allows, with the
// credentials' TLS material, and their username and password when auth is
// set; named is how errors name target. Answers other than 200 are
// errors saying the status only. The caller calls done once it has read
// the body.
func get(ctx context.Context, policy *egress.Policy, target, named string, credentials Credentials, auth bool) (*http.Response, func(), error) {
	client, err := httpClient(credentials, policy)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		client.CloseIdleConnections()
		return nil, nil, err
	}
	if auth && (credentials.Username != "" || credentials.Password != "") {
		req.SetBasicAuth(credentials.Username, credentials.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		client.CloseIdleConnections()
		return nil, nil, fmt.Errorf("fetching %s: %w", named, err)
	}
	done := func() {
		resp.Body.Close()
		client.CloseIdleConnections()
	}
	if resp.StatusCode != http.StatusOK {
		done()
		return nil, nil, fmt.Errorf("fetching %s: %s", named, resp.Status)
	}
	return resp, done, nil
}

// httpClient connects where policy allows, with the credentials' CA and
// client certificate, and over HTTPS only when the credentials hold
// anything secret.
func httpClient(credentials Credentials, policy *egress.Policy) (*http.Client, error) {
	transport := policy.Transport()
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(credentials.CA) > 0 {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(credentials.CA) {
			return nil, errors.New("the secret's ca.crt holds no PEM certificate")
		}
		tlsConfig.RootCAs = roots
	}
	if len(credentials.Cert) > 0 || len(credentials.Key) > 0 {
		pair, err := tls.X509KeyPair(credentials.Cert, credentials.Key)
		if err != nil {
			return nil, fmt.Errorf("the secret's tls.crt and tls.key: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
	}
	transport.TLSClientConfig = tlsConfig
	var rt http.RoundTripper = transport
	if credentials.hasSecrets() {
		rt = egress.HTTPSOnly(transport)
	}
	return &http.Client{Transport: rt, Timeout: fetchTimeout}, nil
}
