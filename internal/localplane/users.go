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
	"crypto/x509"
	"fmt"
	"path/filepath"
	"regexp"

	"k8s.io/client-go/tools/clientcmd"
)

var safeFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// UserKubeconfig writes a kubeconfig for user in groups and returns its path.
func (p *Plane) UserKubeconfig(user string, groups ...string) (string, error) {
	return WriteUserKubeconfig(p.opts.Dir, user, groups...)
}

// WriteUserKubeconfig writes a kubeconfig for user in groups, with a client
// certificate from the client CA of the plane whose state is in dir, and
// returns its path. The plane need not be running.
func WriteUserKubeconfig(dir, user string, groups ...string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if user == "" {
		return "", fmt.Errorf("a user name is required")
	}
	admin, err := clientcmd.LoadFromFile(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return "", fmt.Errorf("no local control plane state in %s (run make run first): %w", dir, err)
	}
	cluster, ok := admin.Clusters["archon-local"]
	if !ok {
		return "", fmt.Errorf("%s has no archon-local cluster", filepath.Join(dir, "kubeconfig"))
	}
	clientCA, err := loadOrCreateAuthority(filepath.Join(dir, "pki"), "client-ca")
	if err != nil {
		return "", err
	}
	certPEM, keyPEM, err := clientCA.issue(certRequest{commonName: user, organizations: groups, usage: x509.ExtKeyUsageClientAuth})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "users", safeFileName.ReplaceAllString(user, "_")+".kubeconfig")
	return path, writeKubeconfigFile(path, cluster.Server, cluster.CertificateAuthorityData, user, certPEM, keyPEM)
}
