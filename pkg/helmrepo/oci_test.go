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
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/acp-archon/archon/internal/charttest"
	"github.com/acp-archon/archon/pkg/egress"
)

// rawManifest is a manifest pushed as it is.
type rawManifest struct {
	data      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// push stores an artifact the way helm push does (configMediaType is the
// helm config's for charts) at repository:tag.
func push(t *testing.T, host, repository, tag, configMediaType string, config []byte) {
	t.Helper()
	repo, err := name.NewRepository(host + "/" + repository)
	if err != nil {
		t.Fatal(err)
	}
	configLayer := static.NewLayer(config, types.MediaType(configMediaType))
	content := static.NewLayer(charttest.Chart("web", tag), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")
	var descriptors []v1.Descriptor
	for _, layer := range []v1.Layer{configLayer, content} {
		if err := remote.WriteLayer(repo, layer); err != nil {
			t.Fatal(err)
		}
		digest, _ := layer.Digest()
		size, _ := layer.Size()
		mediaType, _ := layer.MediaType()
		descriptors = append(descriptors, v1.Descriptor{MediaType: mediaType, Digest: digest, Size: size})
	}
	manifest, err := json.Marshal(v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: descriptors[0], Layers: descriptors[1:],
		Annotations: map[string]string{"org.opencontainers.image.created": "2026-11-27T10:00:00Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Tag(tag), rawManifest{data: manifest, mediaType: types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
}

func TestOCIFetcherReadsChartsUnderAPath(t *testing.T) {
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(server.Close)
	host := strings.TrimPrefix(server.URL, "http://")
	chartConfig := func(name, version string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"v2","name":%q,"version":%q,"appVersion":"1.0","description":"the %s chart"}`, name, version, name)
	}
	push(t, host, "team/charts/web", "1.0.0", helmConfigMediaType, chartConfig("web", "1.0.0"))
	push(t, host, "team/charts/web", "1.10.0", helmConfigMediaType, chartConfig("web", "1.10.0"))
	push(t, host, "team/charts/web", "latest-image", "application/vnd.oci.image.config.v1+json", []byte(`{}`))
	push(t, host, "team/charts/nested/deeper", "1.0.0", helmConfigMediaType, chartConfig("deeper", "1.0.0"))
	push(t, host, "team/other/api", "1.0.0", helmConfigMediaType, chartConfig("api", "1.0.0"))

	loopback, err := egress.New([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	fetcher := NewOCIFetcher(func(string) OCIRepositories { return RegistryCatalog }, loopback)
	index, err := fetcher.Fetch(context.Background(), "oci://"+host+"/team/charts", Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	if len(index.Entries) != 1 {
		t.Fatalf("charts %v, want web alone (not the nested repository, nor another path)", index.Entries)
	}
	web := index.Entries["web"]
	if len(web) != 2 || web[0].Version != "1.10.0" || web[1].Version != "1.0.0" {
		t.Fatalf("web's versions, newest first: %+v", web)
	}
	if web[0].URLs[0] != "oci://"+host+"/team/charts/web:1.10.0" || web[0].Digest == "" || web[0].Created.IsZero() || web[0].Description != "the web chart" {
		t.Errorf("version 1.10.0: %+v %+v", web[0], web[0].Metadata)
	}
	if _, err := fetcher.Fetch(context.Background(), "oci://"+host, Credentials{}); err == nil {
		t.Error("a URL without a path was fetched")
	}
}
