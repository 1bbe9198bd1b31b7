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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/acp-archon/archon/internal/charttest"
	"github.com/acp-archon/archon/pkg/egress"
)

func loopbackPolicy(t *testing.T) *egress.Policy {
	t.Helper()
	policy, err := egress.New([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return policy
}

func TestFetchChartChecksDigestSizeAndWhereCredentialsGo(t *testing.T) {
	archive := charttest.Chart("web", "1.0.0")
	sum := sha256.Sum256(archive)
	var authorized []string
	mux := http.NewServeMux()
	mux.HandleFunc("/charts/", func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok {
			authorized = append(authorized, r.Host+r.URL.Path)
		}
		_, _ = w.Write(archive)
	})
	mux.HandleFunc("/large.tgz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bytes.Repeat([]byte{0}, 2048)) })
	server := httptest.NewTLSServer(mux)
	t.Cleanup(server.Close)
	other := httptest.NewTLSServer(mux)
	t.Cleanup(other.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})

	fetcher := NewPackageFetcher(loopbackPolicy(t), 1024*1024)
	version := func(url, digest string) *ChartVersion {
		return &ChartVersion{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}, URLs: []string{url}, Digest: digest}
	}
	credentials := Credentials{Username: "sync", Password: "s3cret", CA: ca}
	ctx := context.Background()
	got, err := fetcher.FetchChart(ctx, server.URL+"/charts", version("web-1.0.0.tgz", hex.EncodeToString(sum[:])), credentials)
	if err != nil || !bytes.Equal(got, archive) {
		t.Fatalf("a relative URL: %v", err)
	}
	if _, err := fetcher.FetchChart(ctx, server.URL+"/charts", version("web-1.0.0.tgz", strings.Repeat("0", 64)), credentials); err == nil ||
		!strings.Contains(err.Error(), "digest") {
		t.Errorf("another digest: %v", err)
	}
	if len(authorized) != 2 {
		t.Errorf("the repository's own host got credentials %d times, want 2", len(authorized))
	}
	// A package on another host gets no credentials, as helm sends them.
	if _, err := fetcher.FetchChart(ctx, server.URL+"/charts", version(other.URL+"/charts/web-1.0.0.tgz", ""), credentials); err != nil {
		t.Fatal(err)
	}
	if len(authorized) != 2 {
		t.Errorf("credentials sent to another host: %v", authorized)
	}
	small := NewPackageFetcher(loopbackPolicy(t), 1024)
	var tooLarge *TooLargeError
	if _, err := small.FetchChart(ctx, server.URL, version("large.tgz", ""), credentials); !errors.As(err, &tooLarge) {
		t.Errorf("a package over the limit: %v", err)
	}
	closed, err := egress.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPackageFetcher(closed, 1024*1024).FetchChart(ctx, server.URL, version("charts/web-1.0.0.tgz", ""), credentials); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("a loopback repository without an allowance: %v", err)
	}
}

func TestFetchOCIReadsTheChartLayerOfTheListedManifest(t *testing.T) {
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(server.Close)
	host := strings.TrimPrefix(server.URL, "http://")
	push(t, host, "team/charts/web", "1.0.0", helmConfigMediaType, []byte(`{"apiVersion":"v2","name":"web","version":"1.0.0"}`))
	index, err := NewOCIFetcher(func(string) OCIRepositories { return RegistryCatalog }, loopbackPolicy(t)).
		Fetch(context.Background(), "oci://"+host+"/team/charts", Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	version := index.Entries["web"][0]
	fetcher := NewPackageFetcher(loopbackPolicy(t), 1024*1024)
	got, err := fetcher.FetchOCI(context.Background(), version, Credentials{})
	if err != nil || !bytes.Equal(got, charttest.Chart("web", "1.0.0")) {
		t.Fatalf("fetch: %v", err)
	}
	moved := *version
	moved.Digest = strings.Repeat("0", 64)
	if _, err := fetcher.FetchOCI(context.Background(), &moved, Credentials{}); err == nil || !strings.Contains(err.Error(), "no longer") {
		t.Errorf("a retagged version: %v", err)
	}
	var tooLarge *TooLargeError
	if _, err := NewPackageFetcher(loopbackPolicy(t), 16).FetchOCI(context.Background(), version, Credentials{}); !errors.As(err, &tooLarge) {
		t.Errorf("a layer over the limit: %v", err)
	}
}
