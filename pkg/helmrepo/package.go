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
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/acp-archon/archon/pkg/egress"
)

// helmChartLayerMediaType is the layer of an OCI chart artifact holding
// the chart package.
const helmChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// PackageFetcher reads chart packages from Chart and OCI repositories,
// connecting only where its egress policy allows, and at most limit bytes
// of a package.
type PackageFetcher struct {
	policy *egress.Policy
	limit  int64
}

// NewPackageFetcher returns a fetcher that connects where policy allows
// and reads packages of at most limit bytes.
func NewPackageFetcher(policy *egress.Policy, limit int64) *PackageFetcher {
	return &PackageFetcher{policy: policy, limit: limit}
}

// FetchChart reads the package of version from the helm repository at
// repositoryURL. The credentials go only to the repository's own host (as
// helm sends them), and a package whose digest differs from the one the
// index names is refused.
func (f *PackageFetcher) FetchChart(ctx context.Context, repositoryURL string, version *ChartVersion, credentials Credentials) ([]byte, error) {
	if len(version.URLs) == 0 {
		return nil, fmt.Errorf("the index names no package of %s %s", version.Name, version.Version)
	}
	base, err := url.Parse(strings.TrimSuffix(repositoryURL, "/") + "/")
	if err != nil {
		return nil, err
	}
	ref, err := url.Parse(version.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("the package URL %q of %s %s: %w", version.URLs[0], version.Name, version.Version, err)
	}
	packageURL := base.ResolveReference(ref)
	if packageURL.Scheme != "https" && packageURL.Scheme != "http" {
		return nil, fmt.Errorf("the package URL %s of %s %s is not http(s)", where(packageURL), version.Name, version.Version)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	// The credentials go to the repository's own host only, as helm sends
	// them.
	resp, done, err := get(ctx, f.policy, packageURL.String(), where(packageURL), credentials, packageURL.Host == base.Host)
	if err != nil {
		return nil, err
	}
	defer done()
	data, err := f.read(resp.Body, where(packageURL))
	if err != nil {
		return nil, err
	}
	if version.Digest != "" {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), version.Digest) {
			return nil, fmt.Errorf("%s does not have the digest the index names (%s): the repository changed; resynchronize it", where(packageURL), version.Digest)
		}
	}
	return data, nil
}

// FetchOCI reads the package of version from the OCI registry it was
// listed in: the manifest must still be the one listed (its digest), and
// its chart layer is read within the limit and checked against its digest.
func (f *PackageFetcher) FetchOCI(ctx context.Context, version *ChartVersion, credentials Credentials) ([]byte, error) {
	if len(version.URLs) == 0 {
		return nil, fmt.Errorf("the index names no package of %s %s", version.Name, version.Version)
	}
	ref, err := name.NewTag(strings.TrimPrefix(version.URLs[0], "oci://"))
	if err != nil {
		return nil, fmt.Errorf("the package reference %q: %w", version.URLs[0], err)
	}
	client, err := httpClient(credentials, f.policy)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	auth := authn.Anonymous
	if credentials.Username != "" || credentials.Password != "" {
		auth = &authn.Basic{Username: credentials.Username, Password: credentials.Password}
	}
	transport := egress.LimitResponses(client.Transport, maxOCIResponseBytes, f.limit+maxOCIResponseBytes)
	options := []remote.Option{remote.WithContext(ctx), remote.WithTransport(transport), remote.WithAuth(auth)}
	descriptor, err := remote.Get(ref, options...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	if version.Digest != "" && descriptor.Digest.Hex != version.Digest {
		return nil, fmt.Errorf("%s is no longer the version listed (digest %s): resynchronize the repository", ref, version.Digest)
	}
	manifest, err := v1.ParseManifest(strings.NewReader(string(descriptor.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", ref, err)
	}
	for _, layer := range manifest.Layers {
		if layer.MediaType != helmChartLayerMediaType {
			continue
		}
		if layer.Size > f.limit {
			return nil, &TooLargeError{Reason: fmt.Sprintf("the chart package of %s is %d bytes; the limit is %d", ref, layer.Size, f.limit)}
		}
		blob, err := remote.Layer(ref.Context().Digest(layer.Digest.String()), options...)
		if err != nil {
			return nil, fmt.Errorf("reading the chart of %s: %w", ref, err)
		}
		content, err := blob.Compressed()
		if err != nil {
			return nil, fmt.Errorf("reading the chart of %s: %w", ref, err)
		}
		defer content.Close()
		// The reader checks the layer's digest once read to its end.
		return f.read(content, ref.String())
	}
	return nil, fmt.Errorf("%s holds no helm chart layer (%s)", ref, helmChartLayerMediaType)
}

// read reads a package of at most f.limit bytes.
func (f *PackageFetcher) read(r io.Reader, from string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, f.limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", from, err)
	}
	if int64(len(data)) > f.limit {
		return nil, &TooLargeError{Reason: fmt.Sprintf("the chart package at %s is larger than %d bytes", from, f.limit)}
	}
	return data, nil
}

// where names a package's URL in messages: without credentials or query,
// which may hold a token.
func where(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.Path
}
