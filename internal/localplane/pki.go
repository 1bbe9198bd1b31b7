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
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is long enough that a local control plane kept for months
// does not need new certificates.
const certValidity = 5 * 365 * 24 * time.Hour

// authority is a certificate authority of the local control plane, kept as
// <name>.crt and <name>.key in the PKI directory.
type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	CertPEM []byte
}

// certRequest describes a leaf certificate.
type certRequest struct {
	commonName    string
	organizations []string
	dnsNames      []string
	ips           []net.IP
	usage         x509.ExtKeyUsage
}

// loadOrCreateAuthority reuses the CA in dir if there is one, so that
// kubeconfigs handed out earlier stay valid across restarts.
func loadOrCreateAuthority(dir, name string) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if certPEM, err := os.ReadFile(certPath); err == nil {
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
		cert, key, err := parsePair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		return &authority{cert: cert, key: key, CertPEM: certPEM}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "archon-local-" + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM, keyPEM, err := encodePair(der, key)
	if err != nil {
		return nil, err
	}
	if err := writePair(certPath, keyPath, certPEM, keyPEM); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, CertPEM: certPEM}, nil
}

// issue signs a fresh leaf certificate and returns it and its key as PEM.
func (a *authority) issue(req certRequest) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	template := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: req.commonName, Organization: req.organizations},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{req.usage},
		DNSNames:     req.dnsNames,
		IPAddresses:  req.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, err
	}
	return encodePair(der, key)
}

// issueFiles signs a leaf certificate and writes it as <name>.crt/<name>.key.
func (a *authority) issueFiles(dir, name string, req certRequest) (certPath, keyPath string, err error) {
	certPEM, keyPEM, err := a.issue(req)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	return certPath, keyPath, writePair(certPath, keyPath, certPEM, keyPEM)
}

// loadOrCreateKey keeps a private key (the ServiceAccount token signing key)
// stable across restarts so issued tokens stay valid.
func loadOrCreateKey(path string) (privatePath, publicPath string, err error) {
	publicPath = path + ".pub"
	if _, err := os.Stat(path); err == nil {
		return path, publicPath, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(publicPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return "", "", err
	}
	return path, publicPath, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func encodePair(der []byte, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, errors.New("not a PEM certificate and key")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func writePair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, keyPEM, 0o600)
}

func newSerial() *big.Int {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return serial
}

// frontProxyClientName is the identity kube-apiserver's aggregator proves
// to archon when it forwards requests.
const frontProxyClientName = "front-proxy-client"

// admissionClientName is the identity kube-apiserver proves to archon
// when it calls archon's admission webhooks; artifacts/webhooks.yaml lets
// it post admission reviews.
const admissionClientName = "archon:kube-apiserver-admission"

// pki is every certificate and key file of the local control plane.
type pki struct {
	servingAuthority *authority
	clientAuthority  *authority

	servingCA    string
	clientCA     string
	frontProxyCA string

	kubeAPIServerCert, kubeAPIServerKey        string
	archonCert, archonKey                      string
	frontProxyClientCert, frontProxyClientKey  string
	admissionClientCert, admissionClientKey    string
	serviceAccountKey, serviceAccountPublicKey string
	registryCert, registryKey                  string
	// registryTokenKey signs registry tokens; registryTokenCert, its
	// self-signed certificate, is what the registry trusts.
	registryTokenKey, registryTokenCert string
	// registryNotificationsToken is the secret the registry sends with
	// its notifications to archon, kept in registryNotificationsTokenFile.
	registryNotificationsToken, registryNotificationsTokenFile string
}

// loadOrCreatePKI keeps the authorities and the ServiceAccount key of dir and
// issues fresh serving and proxy certificates on every start.
func loadOrCreatePKI(dir string) (*pki, error) {
	serving, err := loadOrCreateAuthority(dir, "serving-ca")
	if err != nil {
		return nil, err
	}
	client, err := loadOrCreateAuthority(dir, "client-ca")
	if err != nil {
		return nil, err
	}
	frontProxy, err := loadOrCreateAuthority(dir, "front-proxy-ca")
	if err != nil {
		return nil, err
	}
	p := &pki{
		servingAuthority: serving,
		clientAuthority:  client,
		servingCA:        filepath.Join(dir, "serving-ca.crt"),
		clientCA:         filepath.Join(dir, "client-ca.crt"),
		frontProxyCA:     filepath.Join(dir, "front-proxy-ca.crt"),
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	if p.kubeAPIServerCert, p.kubeAPIServerKey, err = serving.issueFiles(dir, "kube-apiserver", certRequest{
		commonName: "kube-apiserver",
		dnsNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		ips:        loopback,
		usage:      x509.ExtKeyUsageServerAuth,
	}); err != nil {
		return nil, err
	}
	if p.archonCert, p.archonKey, err = serving.issueFiles(dir, "archon-apiserver", certRequest{
		commonName: "archon-apiserver",
		// The aggregator verifies the name of the Service in the APIService.
		dnsNames: []string{"localhost", "archon-apiserver.archon-system.svc"},
		ips:      loopback,
		usage:    x509.ExtKeyUsageServerAuth,
	}); err != nil {
		return nil, err
	}
	if p.frontProxyClientCert, p.frontProxyClientKey, err = frontProxy.issueFiles(dir, "front-proxy-client", certRequest{
		commonName: frontProxyClientName,
		usage:      x509.ExtKeyUsageClientAuth,
	}); err != nil {
		return nil, err
	}
	if p.admissionClientCert, p.admissionClientKey, err = client.issueFiles(dir, "admission-client", certRequest{
		commonName: admissionClientName,
		usage:      x509.ExtKeyUsageClientAuth,
	}); err != nil {
		return nil, err
	}
	if p.serviceAccountKey, p.serviceAccountPublicKey, err = loadOrCreateKey(filepath.Join(dir, "service-account.key")); err != nil {
		return nil, err
	}
	if p.registryCert, p.registryKey, err = serving.issueFiles(dir, "registry", certRequest{
		commonName: "registry",
		dnsNames:   []string{"localhost"},
		ips:        loopback,
		usage:      x509.ExtKeyUsageServerAuth,
	}); err != nil {
		return nil, err
	}
	// A self-signed certificate is all the registry needs to trust a key;
	// kept across restarts so tokens issued before stay valid.
	if _, err := loadOrCreateAuthority(dir, "registry-token"); err != nil {
		return nil, err
	}
	p.registryTokenKey, p.registryTokenCert = filepath.Join(dir, "registry-token.key"), filepath.Join(dir, "registry-token.crt")
	p.registryNotificationsTokenFile = filepath.Join(dir, "registry-notifications.token")
	if p.registryNotificationsToken, err = loadOrCreateSecret(p.registryNotificationsTokenFile); err != nil {
		return nil, err
	}
	return p, nil
}

// loadOrCreateSecret keeps a random secret in path, made on first use.
func loadOrCreateSecret(path string) (string, error) {
	if secret, err := os.ReadFile(path); err == nil {
		return string(secret), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(raw)
	return secret, os.WriteFile(path, []byte(secret), 0o600)
}
