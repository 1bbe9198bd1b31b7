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
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/acp-archon/archon/pkg/egress"
)

const (
	// helmConfigMediaType marks an OCI artifact as a helm chart.
	helmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	// maxCachedCharts bounds the Chart.yaml files kept by config digest.
	maxCachedCharts = 50000
	// maxConfigBytes bounds a chart's config blob: a Chart.yaml in JSON,
	// a few kilobytes.
	maxConfigBytes = 1 << 20
	// maxOCIResponseBytes bounds each answer of a registry (tag lists,
	// manifests, catalog pages) and maxOCIFetchBytes all answers of one
	// synchronization.
	maxOCIResponseBytes = 4 << 20
	maxOCIFetchBytes    = 64 << 20
	// maxOCIRepositories and maxOCITags bound the charts and versions of
	// an OCI repository.
	maxOCIRepositories = 1000
	maxOCITags         = 1000
)

// OCIRepositories lists the repositories of registry under path/.
type OCIRepositories func(ctx context.Context, registry, path string, options ...remote.Option) ([]string, error)

// RegistryCatalog lists repositories with the registry's catalog API,
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
	policy       *egress.Policy
	mu           sync.Mutex
	// metadata caches Chart.yaml by the digest of the config blob that
	// holds it.
	metadata map[string]*chart.Metadata
}

// NewOCIFetcher returns a fetcher of OCI repositories that lists them with
// what repositories returns for a registry, and connects where policy
// allows.
func NewOCIFetcher(repositories func(registry string) OCIRepositories, policy *egress.Policy) *OCIFetcher {
	return &OCIFetcher{repositories: repositories, policy: policy, metadata: map[string]*chart.Metadata{}}
}

// Fetch reads the charts under an oci://<registry>/<path> URL.
func (f *OCIFetcher) Fetch(ctx context.Context, url string, credentials Credentials) (*IndexFile, error) {
	registry, path, found := strings.Cut(strings.TrimPrefix(url, "oci://"), "/")
	path = strings.Trim(path, "/")
	if !found || path == "" {
		return nil, fmt.Errorf("%s: want oci://<registry>/<path>", url)
	}
	client, err := httpClient(credentials, f.policy)
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
	// A registry chosen by a user answers within bounds: each response,
	// and all of one synchronization's together.
	transport := egress.LimitResponses(client.Transport, maxOCIResponseBytes, maxOCIFetchBytes)
	options := []remote.Option{remote.WithContext(ctx), remote.WithTransport(transport), remote.WithAuth(auth)}

	repositories, err := f.repositories(registry)(ctx, registry, path, options...)
	if err != nil {
		return nil, err
	}
	if len(repositories) > maxOCIRepositories {
		return nil, fmt.Errorf("more than %d repositories under %s: archon reads at most that many charts of an OCI repository", maxOCIRepositories, path)
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
			// archon's catalog rather than from the credentials.
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
		// Not how many: the list may come from archon's catalog, which
		// the credentials may not read.
		return nil, fmt.Errorf("the repository's credentials may read no chart under %s", path)
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
	if len(tags) > maxOCITags {
		return nil, fmt.Errorf("%s has more than %d tags: archon reads at most that many versions of a chart", repository, maxOCITags)
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
		metadata, err := f.chartMetadata(repo, manifest.Config, options)
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

// chartMetadata reads the Chart.yaml of a chart from its config blob: at
// most maxConfigBytes, checked against the digest the manifest names, and
// cached by that digest, which fixes the content wherever it is read
// (a manifest's digest would not: a registry could answer one manifest
// with another config).
func (f *OCIFetcher) chartMetadata(repo name.Repository, config v1.Descriptor, options []remote.Option) (*chart.Metadata, error) {
	if config.Size > maxConfigBytes {
		return nil, fmt.Errorf("the chart's config blob is %d bytes; at most %d are read", config.Size, maxConfigBytes)
	}
	key := config.Digest.String()
	f.mu.Lock()
	cached, ok := f.metadata[key]
	f.mu.Unlock()
	if ok {
		return cached, nil
	}
	layer, err := remote.Layer(repo.Digest(key), options...)
	if err != nil {
		return nil, err
	}
	blob, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer blob.Close()
	data, err := io.ReadAll(io.LimitReader(blob, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("the chart's config blob is larger than %d bytes", maxConfigBytes)
	}
	if digest, _, err := v1.SHA256(bytes.NewReader(data)); err != nil || digest != config.Digest {
		return nil, fmt.Errorf("the chart's config blob does not match its digest %s", config.Digest)
	}
	metadata := &chart.Metadata{}
	if err := json.Unmarshal(data, metadata); err != nil {
		return nil, errors.New("the chart's config blob is not a Chart.yaml in JSON")
	}
	f.mu.Lock()
	if len(f.metadata) >= maxCachedCharts {
		clear(f.metadata) // start again rather than grow without bound
	}
	f.metadata[key] = metadata
	f.mu.Unlock()
	return metadata, nil
}
