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

package chartrepo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"helm.sh/helm/v3/pkg/chart"
)

const (
	// helmConfigMediaType marks an OCI artifact as a helm chart.
	helmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	// maxCachedCharts bounds the Chart.yaml files kept by manifest digest.
	maxCachedCharts = 50000
)

// OCIRepositories lists the repositories of registry under path/.
type OCIRepositories func(ctx context.Context, registry, path string, options ...remote.Option) ([]string, error)

// RegistryCatalog lists repositories with the registry's catalogue API,
// which the repository's credentials must be allowed to read.
func RegistryCatalog(ctx context.Context, registry, path string, options ...remote.Option) ([]string, error) {
	reg, err := name.NewRegistry(registry)
	if err != nil {
		return nil, err
	}
	all, err := remote.Catalog(ctx, reg, options...)
	if err != nil {
		return nil, fmt.Errorf("listing the repositories of %s: %w", registry, err)
	}
	var under []string
	for _, repository := range all {
		if strings.HasPrefix(repository, path+"/") {
			under = append(under, repository)
		}
	}
	return under, nil
}

// OCIFetcher reads the charts stored as OCI artifacts under a registry
// path, as helm push stores them: a repository per chart, a tag per
// version, Chart.yaml in the config blob.
type OCIFetcher struct {
	repositories func(registry string) OCIRepositories
	mu           sync.Mutex
	// metadata caches Chart.yaml by manifest digest, which fixes it.
	metadata map[string]*chart.Metadata
}

// NewOCIFetcher lists repositories with what repositories returns for a
// registry.
func NewOCIFetcher(repositories func(registry string) OCIRepositories) *OCIFetcher {
	return &OCIFetcher{repositories: repositories, metadata: map[string]*chart.Metadata{}}
}

// Fetch reads the charts under an oci://<registry>/<path> URL.
func (f *OCIFetcher) Fetch(ctx context.Context, url string, credentials Credentials) (*IndexFile, error) {
	registry, path, found := strings.Cut(strings.TrimPrefix(url, "oci://"), "/")
	path = strings.Trim(path, "/")
	if !found || path == "" {
		return nil, fmt.Errorf("%s: want oci://<registry>/<path>", url)
	}
	client, err := httpClient(credentials)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	// A repository's tags are read one by one: allow more than one index
	// fetch takes.
	ctx, cancel := context.WithTimeout(ctx, 4*fetchTimeout)
	defer cancel()
	auth := authn.Anonymous
	if credentials.Username != "" || credentials.Password != "" {
		auth = &authn.Basic{Username: credentials.Username, Password: credentials.Password}
	}
	options := []remote.Option{remote.WithContext(ctx), remote.WithTransport(client.Transport), remote.WithAuth(auth)}

	repositories, err := f.repositories(registry)(ctx, registry, path, options...)
	if err != nil {
		return nil, err
	}
	index := &IndexFile{APIVersion: "v1", Generated: time.Now().UTC(), Entries: map[string][]*ChartVersion{}}
	candidates, refused := 0, 0
	for _, repository := range repositories {
		chartName := strings.TrimPrefix(repository, path+"/")
		if ValidateChartName(chartName) != nil {
			continue // nested deeper, or a name archon cannot serve
		}
		candidates++
		versions, err := f.versions(registry, repository, chartName, options)
		if refusedOrGone(err) {
			// Not readable with these credentials (or deleted since the
			// list): left out, and not named, since the list may come from
			// archon's catalogue rather than from the credentials.
			refused++
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(versions) > 0 {
			sortVersions(versions)
			index.Entries[chartName] = versions
		}
	}
	if candidates > 0 && refused == candidates {
		return nil, fmt.Errorf("the repository's credentials may read none of the %d repositories under %s", candidates, path)
	}
	return index, nil
}

// refusedOrGone says whether the registry refused a read or no longer has
// what was read.
func refusedOrGone(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	switch terr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}

// versions reads the chart versions of one repository: its tags whose
// manifests are helm charts of that name.
func (f *OCIFetcher) versions(registry, repository, chartName string, options []remote.Option) ([]*ChartVersion, error) {
	repo, err := name.NewRepository(registry + "/" + repository)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, options...)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repository, err)
	}
	sort.Strings(tags)
	var versions []*ChartVersion
	for _, tag := range tags {
		descriptor, err := remote.Get(repo.Tag(tag), options...)
		if refusedOrGone(err) {
			continue // untagged since the list
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s:%s: %w", repository, tag, err)
		}
		manifest, err := v1.ParseManifest(strings.NewReader(string(descriptor.Manifest)))
		if err != nil || manifest.Config.MediaType != helmConfigMediaType {
			continue // not a chart
		}
		metadata, err := f.chartMetadata(descriptor, repo, manifest.Config.Digest, options)
		if err != nil {
			return nil, fmt.Errorf("reading the chart of %s:%s: %w", repository, tag, err)
		}
		if metadata.Name != chartName {
			continue
		}
		if _, err := semver.NewVersion(metadata.Version); err != nil {
			continue
		}
		version := &ChartVersion{
			Metadata: metadata,
			URLs:     []string{"oci://" + registry + "/" + repository + ":" + tag},
			Digest:   descriptor.Digest.Hex,
		}
		if created, err := time.Parse(time.RFC3339, manifest.Annotations["org.opencontainers.image.created"]); err == nil {
			version.Created = created.UTC()
		}
		versions = append(versions, version)
	}
	return versions, nil
}

func (f *OCIFetcher) chartMetadata(descriptor *remote.Descriptor, repo name.Repository, config v1.Hash, options []remote.Option) (*chart.Metadata, error) {
	f.mu.Lock()
	cached, ok := f.metadata[descriptor.Digest.String()]
	f.mu.Unlock()
	if ok {
		return cached, nil
	}
	layer, err := remote.Layer(repo.Digest(config.String()), options...)
	if err != nil {
		return nil, err
	}
	blob, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	metadata := &chart.Metadata{}
	if err := json.NewDecoder(blob).Decode(metadata); err != nil {
		return nil, err
	}
	f.mu.Lock()
	if len(f.metadata) >= maxCachedCharts {
		clear(f.metadata) // start again rather than grow without bound
	}
	f.metadata[descriptor.Digest.String()] = metadata
	f.mu.Unlock()
	return metadata, nil
}
