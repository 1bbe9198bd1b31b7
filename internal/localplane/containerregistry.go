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

package localplane

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"time"
)

// registryBase is the distribution registry's configuration without
// authentication: TLS from the local CA and storage on disk.
const registryBase = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %[1]s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%[2]d
  secret: %[3]s
  tls:
    certificate: %[4]s
    key: %[5]s
`

// registryArchonParts make the registry archon's: token auth with archon as
// the realm, and notifications to archon.
const registryArchonParts = `auth:
  token:
    realm: %[1]s/registry/token
    service: archon-registry
    issuer: archon
    rootcertbundle: %[2]s
notifications:
  endpoints:
  - name: archon
    url: %[3]s/registry/notifications
    headers:
      Authorization: [Bearer %[4]s]
    timeout: 2s
    threshold: 3
    backoff: 1s
    ignore:
      actions: [pull]       # archon reads the registry: its pulls need no notice
`

// startRegistry runs archon's registry. Its port moves only on the first
// start, before archon is told where the registry is; a restarted
// registry is found where it was.
func (p *Plane) startRegistry(ctx context.Context) error {
	l := p.layout
	archonParts := fmt.Sprintf(registryArchonParts,
		// Registry clients refuse realms at IP literals of private ranges
		// (a guard against servers sending credentials to internal hosts);
		// a name is accepted.
		l.archonLocalhostURL(), p.pki.registryTokenCert, l.archonURL(), p.pki.registryNotificationsToken)
	p.logf("Starting the container registry on %s", l.registryHost())
	var err error
	p.registry, err = p.runRegistry(ctx, "registry", l.registry, !p.registryStarted, archonParts)
	if err != nil {
		return err
	}
	p.registryStarted = true
	p.RegistryHost = l.registryHost()
	return nil
}

// StartOpenRegistry runs a second registry without authentication, with
// storage of its own, as the baseline of benchmarks; stop it when done.
func (p *Plane) StartOpenRegistry(ctx context.Context) (host string, stop func(), err error) {
	port, err := reservePort()
	if err != nil {
		return "", nil, err
	}
	registry, err := p.runRegistry(ctx, "open-registry", port, true, "")
	if err != nil {
		port.release()
		return "", nil, err
	}
	return port.hostPort(), func() { registry.stop(stopGrace) }, nil
}

// runRegistry starts a registry named name on port and waits until it
// answers; port may move if movable.
func (p *Plane) runRegistry(ctx context.Context, name string, port *port, movable bool, extra string) (*process, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	l := p.layout
	configPath := l.path(name + ".yaml")
	client := &http.Client{Transport: p.servingCATransport(), Timeout: 2 * time.Second}
	return p.startOn(ctx, port, movable, name+" to answer", func() (*process, error) {
		config := fmt.Sprintf(registryBase, l.path(name+"-data"), port.number, hex.EncodeToString(secret),
			p.pki.registryCert, p.pki.registryKey) + extra
		if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
			return nil, err
		}
		// The registry trusts archon's serving CA for its notifications, and
		// exports no traces.
		return startProcess(name, l.binary("registry"), l.logPath(name),
			[]string{"SSL_CERT_FILE=" + p.pki.servingCA, "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true"}, "serve", configPath)
	}, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+port.hostPort()+"/v2/", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK, nil
	})
}

// servingCATransport trusts the servers the local CA certified.
func (p *Plane) servingCATransport() http.RoundTripper {
	roots := x509.NewCertPool()
	roots.AddCert(p.pki.servingAuthority.cert)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return transport
}

// StopRegistry stops the registry alone; the plane holds its port until
// StartRegistry.
func (p *Plane) StopRegistry() {
	if p.stopRegistry() {
		if err := p.layout.registry.takeBack(context.Background()); err != nil {
			p.logf("%v", err)
		}
	}
}

// stopRegistry stops the registry if it runs and reports whether it did.
func (p *Plane) stopRegistry() bool {
	if p.registry == nil {
		return false
	}
	p.registry.stop(stopGrace)
	p.registry = nil
	return true
}

// StartRegistry starts the registry again after StopRegistry.
func (p *Plane) StartRegistry(ctx context.Context) error { return p.startRegistry(ctx) }

// RegistryCA is the CA file that verifies the registry.
func (p *Plane) RegistryCA() string { return p.pki.servingCA }

// RegistryTokenKey is the key archon signs registry tokens with.
func (p *Plane) RegistryTokenKey() string { return p.pki.registryTokenKey }
