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

package containerregistry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/lru"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
)

// UnavailableError is a registry that could not be reached or answered
// with a server error: the caller should retry later.
type UnavailableError struct {
	Registry string
	Err      error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the container registry at %s is unavailable: %v", e.Registry, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err says the registry cannot be reached.
func IsUnavailable(err error) bool {
	var unavailable *UnavailableError
	return errors.As(err, &unavailable)
}

// archonSubject is the subject of the tokens archon signs for itself.
const archonSubject = "system:archon-apiserver"

// requestTimeout bounds every registry request, so that a registry that
// hangs turns into an error rather than a hung API request.
const requestTimeout = 10 * time.Second

var manifestMediaTypes = []string{
	string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	string(types.OCIImageIndex), string(types.DockerManifestList),
}

// Client reads and deletes repositories, with tokens it signs itself.
type Client struct {
	base   *url.URL
	http   *http.Client
	signer *Signer
	// described holds descriptions of manifests by digest: content
	// addressed, so they never go stale.
	described *lru.Cache
}

// NewClient returns a client for the registry at base (https://host:port).
func NewClient(base string, transport http.RoundTripper, signer *Signer) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("registry URL %q: want https://host[:port]", base)
	}
	return &Client{
		base:      u,
		http:      &http.Client{Transport: transport, Timeout: requestTimeout},
		signer:    signer,
		described: lru.New(50000),
	}, nil
}

// Host is the registry's host:port, as image references name it.
func (c *Client) Host() string { return c.base.Host }

// Ping checks that the registry answers.
func (c *Client) Ping(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/v2/", nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Repositories lists every repository of the registry (its /v2/_catalog),
// page by page as the registry's Link headers lead.
func (c *Client) Repositories(ctx context.Context) ([]string, error) {
	access := []Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}
	var all []string
	for path := "/v2/_catalog?n=1000"; path != ""; {
		resp, err := c.do(ctx, http.MethodGet, path, access, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Repositories []string `json:"repositories"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&page)
		next := nextPage(resp.Header.Get("Link"))
		resp.Body.Close()
		if err != nil {
			return nil, &UnavailableError{Registry: c.base.Host, Err: fmt.Errorf("reading the catalog: %w", err)}
		}
		all = append(all, page.Repositories...)
		path = next
	}
	return all, nil
}

// nextPage is the path of a Link header's rel="next" target, or "".
func nextPage(link string) string {
	target, params, found := strings.Cut(link, ";")
	if !found || !strings.Contains(params, `rel="next"`) {
		return ""
	}
	target = strings.Trim(strings.TrimSpace(target), "<>")
	u, err := url.Parse(target)
	if err != nil || u.Path == "" {
		return ""
	}
	return u.RequestURI()
}

// Tags lists a repository's tags; none when the repository does not exist.
func (c *Client) Tags(ctx context.Context, repository string) ([]string, error) {
	var list struct {
		Tags []string `json:"tags"`
	}
	err := c.getJSON(ctx, "/v2/"+repository+"/tags/list?n=10000", pull(repository), &list)
	if errors.Is(err, errNotFound) {
		return nil, nil
	}
	return list.Tags, err
}

// Describe reads what a tag points at.
func (c *Client) Describe(ctx context.Context, repository, tag string) (imageapi.ImageTag, error) {
	resp, err := c.do(ctx, http.MethodHead, "/v2/"+repository+"/manifests/"+tag, pull(repository), manifestMediaTypes)
	if err != nil {
		return imageapi.ImageTag{}, err
	}
	resp.Body.Close()
	digest := resp.Header.Get("Docker-Content-Digest")
	if digest == "" {
		digest = tag
	}
	description, err := c.describeManifest(ctx, repository, digest)
	description.Name = tag
	return description, err
}

// describeManifest describes the manifest with digest, from the cache
// when it was read before.
func (c *Client) describeManifest(ctx context.Context, repository, digest string) (imageapi.ImageTag, error) {
	if cached, ok := c.described.Get(digest); ok {
		return *cached.(*imageapi.ImageTag).DeepCopy(), nil
	}
	body, mediaType, err := c.get(ctx, "/v2/"+repository+"/manifests/"+digest, pull(repository), manifestMediaTypes)
	if err != nil {
		return imageapi.ImageTag{}, err
	}
	sum := sha256.Sum256(body)
	if computed := "sha256:" + hex.EncodeToString(sum[:]); !strings.HasPrefix(digest, "sha256:") {
		digest = computed
	}
	description := imageapi.ImageTag{Digest: digest, MediaType: mediaType, Size: int64(len(body))}
	if types.MediaType(mediaType).IsIndex() {
		index, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return imageapi.ImageTag{}, fmt.Errorf("index %s of %s: %w", digest, repository, err)
		}
		for _, child := range index.Manifests {
			if child.Platform != nil && child.Platform.OS != "unknown" {
				description.Platforms = append(description.Platforms, child.Platform.String())
			}
			if !child.MediaType.IsImage() {
				description.Size += child.Size
				continue
			}
			childDescription, err := c.describeManifest(ctx, repository, child.Digest.String())
			if err != nil {
				return imageapi.ImageTag{}, err
			}
			description.Size += childDescription.Size
			if childDescription.Created != nil && (description.Created == nil || description.Created.Before(childDescription.Created)) {
				description.Created = childDescription.Created
			}
		}
	} else {
		manifest, err := v1.ParseManifest(bytes.NewReader(body))
		if err != nil {
			return imageapi.ImageTag{}, fmt.Errorf("manifest %s of %s: %w", digest, repository, err)
		}
		description.Size += manifest.Config.Size
		for _, layer := range manifest.Layers {
			description.Size += layer.Size
		}
		if manifest.Config.MediaType.IsConfig() {
			configBody, _, err := c.get(ctx, "/v2/"+repository+"/blobs/"+manifest.Config.Digest.String(), pull(repository), nil)
			if err != nil {
				return imageapi.ImageTag{}, err
			}
			if config, err := v1.ParseConfigFile(bytes.NewReader(configBody)); err == nil {
				if !config.Created.IsZero() {
					description.Created = &metav1.Time{Time: config.Created.Time}
				}
				if config.OS != "" {
					description.Platforms = []string{(&v1.Platform{OS: config.OS, Architecture: config.Architecture, Variant: config.Variant}).String()}
				}
			}
		}
	}
	c.described.Add(digest, description.DeepCopy())
	return description, nil
}

// DeleteRepository deletes every manifest a tag of the repository points
// at, which removes its tags; the registry keeps no empty repository in
// view of archon.
func (c *Client) DeleteRepository(ctx context.Context, repository string) error {
	tags, err := c.Tags(ctx, repository)
	if err != nil {
		return err
	}
	access := []Access{{Type: "repository", Name: repository, Actions: []string{"pull", "delete"}}}
	deleted := map[string]bool{}
	for _, tag := range tags {
		resp, err := c.do(ctx, http.MethodHead, "/v2/"+repository+"/manifests/"+tag, access, manifestMediaTypes)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		digest := resp.Header.Get("Docker-Content-Digest")
		if digest == "" || deleted[digest] {
			continue
		}
		resp, err = c.do(ctx, http.MethodDelete, "/v2/"+repository+"/manifests/"+digest, access, nil)
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		if resp != nil {
			resp.Body.Close()
		}
		deleted[digest] = true
	}
	return nil
}

func pull(repository string) []Access {
	return []Access{{Type: "repository", Name: repository, Actions: []string{"pull"}}}
}

var errNotFound = errors.New("not found in the registry")

func (c *Client) getJSON(ctx context.Context, path string, access []Access, into any) error {
	body, _, err := c.get(ctx, path, access, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, into)
}

// maxBody bounds what archon reads of a manifest or config.
const maxBody = 4 << 20

func (c *Client) get(ctx context.Context, path string, access []Access, accept []string) ([]byte, string, error) {
	resp, err := c.do(ctx, http.MethodGet, path, access, accept)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, "", &UnavailableError{Registry: c.base.Host, Err: err}
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// do sends one request with a token for access and maps the answer:
// 404 is errNotFound, a connection failure or 5xx is unavailable.
func (c *Client) do(ctx context.Context, method, path string, access []Access, accept []string) (*http.Response, error) {
	u := *c.base
	u.Path, u.RawQuery, _ = strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if access != nil {
		token, _, err := c.signer.Sign(archonSubject, access)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, mediaType := range accept {
		req.Header.Add("Accept", mediaType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &UnavailableError{Registry: c.base.Host, Err: err}
	}
	switch {
	case resp.StatusCode < 300, path == "/v2/" && resp.StatusCode == http.StatusUnauthorized:
		return resp, nil
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, errNotFound
	case resp.StatusCode >= 500:
		resp.Body.Close()
		return nil, &UnavailableError{Registry: c.base.Host, Err: fmt.Errorf("%s %s: %s", method, u.Path, resp.Status)}
	default:
		message, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		return nil, fmt.Errorf("registry %s %s: %s: %s", method, u.Path, resp.Status, strings.TrimSpace(string(message)))
	}
}
