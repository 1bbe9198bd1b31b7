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
	"path/filepath"
	"strconv"
	"time"
)

// registryConfig is the distribution registry's configuration: TLS from
// the local CA, storage on disk, token auth with archon as the realm, and
// notifications to archon.
const registryConfig = `version: 0.1
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
auth:
  token:
    realm: %[8]s/registry/token
    service: archon-registry
    issuer: archon
    rootcertbundle: %[7]s
notifications:
  endpoints:
  - name: archon
    url: %[6]s/registry/notifications
    timeout: 2s
    threshold: 3
    backoff: 1s
`

// startRegistry runs the distribution registry on a port kept for the
// plane's lifetime, so that a restarted registry is found where it was.
func (p *Plane) startRegistry(ctx context.Context) error {
	if p.registryPort == 0 {
		port, err := freePort()
		if err != nil {
			return err
		}
		p.registryPort = port
		p.RegistryHost = "127.0.0.1:" + strconv.Itoa(port)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	configPath := filepath.Join(p.opts.Dir, "registry.yaml")
	config := fmt.Sprintf(registryConfig, filepath.Join(p.opts.Dir, "registry-data"), p.registryPort, hex.EncodeToString(secret),
		p.pki.registryCert, p.pki.registryKey, p.ArchonURL, p.pki.registryTokenCert,
		// Registry clients refuse realms at IP literals of private ranges
		// (a guard against servers sending credentials to internal hosts);
		// a name is accepted.
		"https://localhost:"+strconv.Itoa(p.archonPort))
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return err
	}
	p.logf("Starting the container registry on %s", p.RegistryHost)
	var err error
	// The registry trusts archon's serving CA for its notifications.
	p.registry, err = startProcessWithEnv("registry", filepath.Join(p.opts.BinDir, "registry"),
		filepath.Join(p.opts.Dir, "logs", "registry.log"), []string{"SSL_CERT_FILE=" + p.pki.servingCA, "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true"}, "serve", configPath)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: p.servingCATransport(), Timeout: 2 * time.Second}
	return p.waitFor(ctx, p.registry, "the registry to answer", func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+p.RegistryHost+"/v2/", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized, nil
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

// StopRegistry stops the registry alone.
func (p *Plane) StopRegistry() {
	if p.registry != nil {
		p.registry.stop(stopGrace)
		p.registry = nil
	}
}

// StartRegistry starts the registry again after StopRegistry.
func (p *Plane) StartRegistry(ctx context.Context) error { return p.startRegistry(ctx) }

// RegistryCA is the CA file that verifies the registry.
func (p *Plane) RegistryCA() string { return p.pki.servingCA }

// RegistryTokenKey is the key archon signs registry tokens with.
func (p *Plane) RegistryTokenKey() string { return p.pki.registryTokenKey }
