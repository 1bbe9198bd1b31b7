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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// fakeRegistry serves tags and manifests of in-memory repositories, and
// counts tag lists and manifest reads.
type fakeRegistry struct {
	mu            sync.Mutex
	tags          map[string]map[string]string // repository -> tag -> digest
	manifests     map[string][]byte            // digest -> manifest
	manifestReads map[string]int               // repository:reference -> reads
	tagLists      atomic.Int32
}

// reads reports how often the manifest repository:reference was read.
func (f *fakeRegistry) reads(repositoryReference string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.manifestReads[repositoryReference]
}

const configBlob = `{"created":"2026-01-02T03:04:05Z","os":"linux","architecture":"arm64"}`

func (f *fakeRegistry) push(repository, tag string, layerSize int64) {
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%064x","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%064x","size":%d}]}`,
		1, len(configBlob), layerSize, layerSize)
	sum := sha256.Sum256([]byte(manifest))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tags[repository] == nil {
		f.tags[repository] = map[string]string{}
	}
	f.tags[repository][tag] = digest
	f.manifests[digest] = []byte(manifest)
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	switch {
	case path == "":
		w.WriteHeader(http.StatusOK)
	case path == "_catalog":
		var repositories []string
		for repository := range f.tags {
			repositories = append(repositories, repository)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"repositories": repositories})
	case strings.HasSuffix(path, "/tags/list"):
		f.tagLists.Add(1)
		repository := strings.TrimSuffix(path, "/tags/list")
		var tags []string
		for tag := range f.tags[repository] {
			tags = append(tags, tag)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": repository, "tags": tags})
	case strings.Contains(path, "/blobs/"):
		_, _ = w.Write([]byte(configBlob))
	case strings.Contains(path, "/manifests/"):
		parts := strings.SplitN(path, "/manifests/", 2)
		f.manifestReads[parts[0]+":"+parts[1]]++
		digest := parts[1]
		if !strings.HasPrefix(digest, "sha256:") {
			digest = f.tags[parts[0]][digest]
		}
		manifest, ok := f.manifests[digest]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		_, _ = w.Write(manifest)
	default:
		http.NotFound(w, r)
	}
}

func newTestImageCache(t *testing.T) (*ImageCache, *fakeRegistry) {
	t.Helper()
	fake := &fakeRegistry{tags: map[string]map[string]string{}, manifests: map[string][]byte{}, manifestReads: map[string]int{}}
	server := httptest.NewTLSServer(fake)
	t.Cleanup(server.Close)
	path, _ := writeKey(t)
	signer, err := NewSigner(path, "archon", "archon-registry", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(server.URL, server.Client().Transport, signer)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewImageCache(client)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go cache.Run(ctx, 2)
	if err := cache.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return cache, fake
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case event := <-w.ResultChan():
		return event
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
		return watch.Event{}
	}
}

func tagNames(image *imageapi.Image) string {
	var names []string
	for _, tag := range image.Status.Tags {
		names = append(names, tag.Name)
	}
	return strings.Join(names, ",")
}

func TestNotifiedPushesUpdateTheImageCacheWithoutListingTags(t *testing.T) {
	cache, fake := newTestImageCache(t)
	everything := func(*imageapi.Image) bool { return true }
	w, err := cache.Watch(context.Background(), changefeed.WatchOptions{ResourceVersion: "0"}, everything)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	lists := fake.tagLists.Load()
	fake.push("team-a/app", "v1", 100)
	cache.TagPushed("team-a/app", "v1")
	event := nextEvent(t, w)
	image := event.Object.(*imageapi.Image)
	if event.Type != watch.Added || image.Namespace != "team-a" || image.Name != "app" || len(image.Status.Tags) != 1 {
		t.Fatalf("first push: %s %+v", event.Type, image)
	}
	tag := image.Status.Tags[0]
	if tag.Size != int64(len(fake.manifests[tag.Digest]))+int64(len(configBlob))+100 || tag.Created == nil || strings.Join(tag.Platforms, ",") != "linux/arm64" {
		t.Errorf("described tag %+v", tag)
	}

	fake.push("team-a/app", "v2", 200)
	cache.TagPushed("team-a/app", "v2")
	if event := nextEvent(t, w); event.Type != watch.Modified || len(event.Object.(*imageapi.Image).Status.Tags) != 2 {
		t.Fatalf("second push: %s %+v", event.Type, event.Object)
	}
	if fake.tagLists.Load() != lists {
		t.Errorf("pushes listed the repository's tags %d times", fake.tagLists.Load()-lists)
	}

	// A notification of a tag the registry does not hold changes nothing:
	// the registry, not the notification, is the truth.
	// Once the registry has been asked about both, a real push follows:
	// its event must be the first after the forged ones.
	cache.TagPushed("team-a/app", "forged")
	cache.TagPushed("team-a/other", "forged")
	err = wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return fake.reads("team-a/app:forged") > 0 && fake.reads("team-a/other:forged") > 0, nil
	})
	if err != nil {
		t.Fatalf("the registry was never asked about the forged tags: %v", err)
	}
	fake.push("team-a/app", "v3", 300)
	cache.TagPushed("team-a/app", "v3")
	event = nextEvent(t, w)
	image, _ = event.Object.(*imageapi.Image)
	if event.Type != watch.Modified || image == nil || image.Name != "app" || tagNames(image) != "v1,v2,v3" {
		t.Fatalf("first event after forged notifications: %s %+v, want app MODIFIED with tags v1,v2,v3", event.Type, event.Object)
	}
	if images, _ := cache.List(everything); len(images) != 1 || tagNames(&images[0]) != "v1,v2,v3" {
		t.Errorf("after forged notifications: %+v", images)
	}

	// A deletion is read in full: the tags are gone, and so is the Image.
	fake.mu.Lock()
	delete(fake.tags, "team-a/app")
	fake.mu.Unlock()
	cache.Refresh("team-a/app")
	if event := nextEvent(t, w); event.Type != watch.Deleted {
		t.Fatalf("after deletion: %s", event.Type)
	}
	if images, _ := cache.List(everything); len(images) != 0 {
		t.Errorf("images left: %+v", images)
	}
}

func TestGetReadsTheRegistry(t *testing.T) {
	cache, fake := newTestImageCache(t)
	fake.push("team-a/tools/go", "1.24", 10)
	image, err := cache.Get(context.Background(), "team-a/tools/go")
	if err != nil || image == nil || image.Name != "tools~go" || len(image.Status.Tags) != 1 {
		t.Fatalf("get: %+v %v", image, err)
	}
	if missing, err := cache.Get(context.Background(), "team-a/none"); missing != nil || err != nil {
		t.Errorf("get of a missing repository: %+v %v", missing, err)
	}
}

func TestWatchesFromAnotherProcessAreToldToListAgain(t *testing.T) {
	cache, _ := newTestImageCache(t)
	everything := func(*imageapi.Image) bool { return true }
	_, revision := cache.List(everything)
	for _, rv := range []uint64{revision + 1000, 5} {
		_, err := cache.Watch(context.Background(), changefeed.WatchOptions{ResourceVersion: fmt.Sprint(rv)}, everything)
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Errorf("watch from %d (cache at %d): %v, want 410", rv, revision, err)
		}
	}
}

func TestNextPageFollowsTheLinkHeader(t *testing.T) {
	for link, want := range map[string]string{
		`</v2/_catalog?last=team-a%2Fapp&n=100>; rel="next"`:                "/v2/_catalog?last=team-a%2Fapp&n=100",
		`<https://registry.example.com/v2/_catalog?last=x&n=2>; rel="next"`: "/v2/_catalog?last=x&n=2",
		"":                                  "",
		`</v2/_catalog?last=x>; rel="prev"`: "",
	} {
		if got := nextPage(link); got != want {
			t.Errorf("nextPage(%q) = %q, want %q", link, got, want)
		}
	}
}
