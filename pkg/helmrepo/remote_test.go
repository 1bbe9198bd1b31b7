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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/acp-archon/archon/pkg/egress"
)

const servedIndex = `apiVersion: v1
entries:
  web:
  - {name: web, version: 1.0.0, urls: [web-1.0.0.tgz], created: "2024-01-02T03:04:05.5Z", appVersion: "2.1", digest: abc}
  - {name: web, version: not-semver, urls: [web-x.tgz]}
  - {name: other, version: 1.0.0, urls: [misfiled.tgz]}
  empty:
  - {name: empty, version: 1.0.0}
`

// clientCertificate issues a client certificate from a new CA and returns
// the CA's pool and the certificate and key as PEM.
func clientCertificate(t *testing.T) (*x509.CertPool, []byte, []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "charts CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "archon"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func TestFetchIndexWithTheSecretsCredentials(t *testing.T) {
	clientCAs, cert, key := clientCertificate(t)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, password, ok := r.BasicAuth(); !ok || user != "sync" || password != "s3cret" || r.URL.Path != "/stable/index.yaml" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(servedIndex))
	}))
	server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	server.StartTLS()
	t.Cleanup(server.Close)
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})

	loopback, err := egress.New([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := NewIndexFetcher(loopback)
	credentials := Credentials{Username: "sync", Password: "s3cret", CA: serverCA, Cert: cert, Key: key}
	index, err := fetcher.Fetch(context.Background(), server.URL+"/stable/", credentials)
	if err != nil {
		t.Fatal(err)
	}
	if len(index.Entries) != 1 || len(index.Entries["web"]) != 1 || index.Entries["web"][0].Version != "1.0.0" {
		t.Fatalf("entries %+v: want web 1.0.0 alone (no bad version, misfiled chart or version without a URL)", index.Entries)
	}
	if web := index.Entries["web"][0]; web.AppVersion != "2.1" || web.Digest != "abc" || !web.Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
		t.Errorf("web 1.0.0 read as %+v %+v", web, web.Metadata)
	}

	for name, c := range map[string]Credentials{
		"no client certificate": {Username: "sync", Password: "s3cret", CA: serverCA},
		"an unknown CA":         {Username: "sync", Password: "s3cret", Cert: cert, Key: key},
		"a wrong password":      {Username: "sync", Password: "guess", CA: serverCA, Cert: cert, Key: key},
	} {
		if _, err := fetcher.Fetch(context.Background(), server.URL+"/stable", c); err == nil {
			t.Errorf("%s: fetched", name)
		}
	}
	if _, err := fetcher.Fetch(context.Background(), server.URL, Credentials{CA: []byte("not PEM")}); err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("a bad ca.crt: %v", err)
	}

	// Credentials never travel over plain HTTP, asked for or redirected to.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			t.Error("credentials reached a plain HTTP server")
		}
		_, _ = w.Write([]byte(servedIndex))
	}))
	t.Cleanup(plain.Close)
	if _, err := fetcher.Fetch(context.Background(), plain.URL, Credentials{Username: "sync", Password: "s3cret"}); err == nil || !strings.Contains(err.Error(), "https only") {
		t.Errorf("credentials to http://: %v, want refused", err)
	}
	if _, err := fetcher.Fetch(context.Background(), plain.URL, Credentials{}); err != nil {
		t.Errorf("a public index over http without credentials: %v", err)
	}
}
