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
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/klog/v2"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

const (
	// resync re-reads the whole registry now and then, for changes whose
	// notification was lost.
	resync = 10 * time.Minute
	// historySize is how many changes watches can resume across.
	historySize = 4096
	// notificationSettle is how long after a notification the repository
	// is read.
	notificationSettle = time.Second
	// syncWait bounds how long a request waits for the first full read.
	syncWait = 30 * time.Second
)

// ImageCache keeps every repository of the registry in memory as an Image,
// refreshed when the registry notifies a change and by a periodic
// resync. The registry stays the truth: reads of one Image go to it.
type ImageCache struct {
	client *Client

	mu       sync.RWMutex
	images   map[string]*imageapi.Image // by repository
	revision uint64
	feed     *changefeed.Feed[*imageapi.Image]
	// tagWrites counts, by repository, the tags set from notifications, so
	// that a full read that raced with one is done again rather than
	// stored over it.
	tagWrites map[string]uint64

	queue *keyqueue.Queue
	// tagQueue reads single tags, keyed "repository:tag".
	tagQueue   *keyqueue.Queue
	synced     chan struct{}
	syncedOnce sync.Once
}

// NewImageCache returns an empty cache of the registry client reads; Run
// fills it.
func NewImageCache(client *Client) *ImageCache {
	c := &ImageCache{
		client:    client,
		images:    map[string]*imageapi.Image{},
		tagWrites: map[string]uint64{},
		synced:    make(chan struct{}),
	}
	c.queue = keyqueue.New("image-cache", func(ctx context.Context, repository string) error {
		_, err := c.refresh(ctx, repository)
		return err
	})
	c.tagQueue = keyqueue.New("image-cache-tags", c.applyPushedTag)
	c.feed = changefeed.New(&c.mu, historySize, func() *imageapi.Image { return &imageapi.Image{} })
	// Revisions start at the time of start-up, in microseconds, so that the
	// resourceVersions of a restarted archon are newer than any it gave
	// before, and a watch resuming from an earlier process is told to list
	// again rather than replayed a history it never saw.
	c.revision = uint64(time.Now().UnixMicro())
	c.feed.Reset(c.revision)
	c.feed.Advance(c.revision)
	c.feed.RejectFutureResourceVersions()
	return c
}

// Client is the registry client the cache reads with.
func (c *ImageCache) Client() *Client { return c.client }

// Run reads the whole registry, then keeps the cache current with
// workers refreshing notified repositories, until ctx is done.
func (c *ImageCache) Run(ctx context.Context, workers int) {
	go c.queue.Run(ctx, workers)
	go c.tagQueue.Run(ctx, workers)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.resyncAll(ctx); err != nil {
			klog.ErrorS(err, "Reading the container registry's catalog failed; trying again")
			return
		}
		c.syncedOnce.Do(func() { close(c.synced) })
		select {
		case <-ctx.Done():
		case <-time.After(resync):
		}
	}, 5*time.Second)
}

// Refresh asks for the repository to be read again in a moment. Waiting
// coalesces the burst of notifications a push sends (a tag at a time, for
// pushes of many tags) into one read, and lets the registry write the tag
// it notified before writing it.
func (c *ImageCache) Refresh(repository string) { c.queue.AddAfter(repository, notificationSettle) }

// TagPushed asks for one tag of the repository to be read again, after a
// notification said it was pushed. Only the tag is read (its manifest too,
// for a digest archon has not described), however many tags the
// repository has; the registry, not the notification, says what the tag
// points at, so a forged notification changes nothing.
//
// The tag is read now and once more a moment later: the registry notifies
// a pushed manifest before it writes the tag.
func (c *ImageCache) TagPushed(repository, tag string) {
	if ValidateRepository(repository) == nil && ValidTag(tag) {
		c.tagQueue.Add(repository + ":" + tag)
		c.tagQueue.AddAfter(repository+":"+tag, notificationSettle)
	}
}

func (c *ImageCache) applyPushedTag(ctx context.Context, key string) error {
	separator := strings.LastIndex(key, ":")
	repository, tag := key[:separator], key[separator+1:]
	namespace, name, err := SplitRepository(repository)
	if err != nil {
		return nil
	}
	described, err := c.client.Describe(ctx, repository, tag)
	if errors.Is(err, errNotFound) {
		// Not written yet, or never pushed: deletions reach the cache
		// through full reads of the repository.
		return nil
	}
	if err != nil {
		return err
	}
	described.Name = tag

	c.mu.Lock()
	defer c.mu.Unlock()
	image := &imageapi.Image{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Status:     imageapi.ImageStatus{Repository: repository},
	}
	if old := c.images[repository]; old != nil {
		image.Status.Tags = slices.DeleteFunc(slices.Clone(old.Status.Tags), func(t imageapi.ImageTag) bool { return t.Name == tag })
	}
	image.Status.Tags = append(image.Status.Tags, described)
	sort.Slice(image.Status.Tags, func(i, j int) bool { return image.Status.Tags[i].Name < image.Status.Tags[j].Name })
	c.tagWrites[repository]++
	c.store(repository, image)
	return nil
}

// resyncAll reads every repository the registry lists, and forgets the
// ones it no longer does.
func (c *ImageCache) resyncAll(ctx context.Context) error {
	repositories, err := c.client.Repositories(ctx)
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, repository := range repositories {
		if ValidateRepository(repository) != nil {
			continue // not one of the platform's: no namespace owns it
		}
		listed[repository] = true
		if _, err := c.refresh(ctx, repository); err != nil {
			if IsUnavailable(err) {
				return err
			}
			// One repository the cache cannot read must not keep the
			// others out of it.
			klog.ErrorS(err, "Reading a repository of the container registry failed; leaving it out", "repository", repository)
		}
	}
	c.mu.RLock()
	var gone []string
	for repository := range c.images {
		if !listed[repository] {
			gone = append(gone, repository)
		}
	}
	c.mu.RUnlock()
	for _, repository := range gone {
		if _, err := c.refresh(ctx, repository); err != nil {
			return err
		}
	}
	return nil
}

// refresh reads one repository from the registry and records what
// changed; a repository without tags is no Image.
func (c *ImageCache) refresh(ctx context.Context, repository string) (*imageapi.Image, error) {
	namespace, name, err := SplitRepository(repository)
	if err != nil {
		return nil, nil
	}
	for attempt := 1; ; attempt++ {
		c.mu.RLock()
		writes := c.tagWrites[repository]
		c.mu.RUnlock()
		image, err := c.read(ctx, repository, namespace, name)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		// A tag set from a notification while this read ran may be missing
		// from it: read again, and past a few attempts leave the cache
		// as the tag reads made it and try again in a moment.
		if c.tagWrites[repository] != writes {
			current := c.images[repository]
			c.mu.Unlock()
			if attempt < maxReadAttempts {
				continue
			}
			c.Refresh(repository)
			return current.DeepCopy(), nil
		}
		stored := c.store(repository, image)
		c.mu.Unlock()
		return stored, nil
	}
}

// maxReadAttempts bounds the reads of a repository that notified pushes
// keep overtaking.
const maxReadAttempts = 3

// read lists the repository's tags and describes each.
func (c *ImageCache) read(ctx context.Context, repository, namespace, name string) (*imageapi.Image, error) {
	tags, err := c.client.Tags(ctx, repository)
	if err != nil || len(tags) == 0 {
		return nil, err
	}
	image := &imageapi.Image{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Status:     imageapi.ImageStatus{Repository: repository},
	}
	sort.Strings(tags)
	for _, tag := range tags {
		described, err := c.client.Describe(ctx, repository, tag)
		if errors.Is(err, errNotFound) {
			continue // untagged since the list
		}
		if err != nil {
			return nil, err
		}
		image.Status.Tags = append(image.Status.Tags, described)
	}
	if len(image.Status.Tags) == 0 {
		return nil, nil
	}
	return image, nil
}

// store records the repository's new state, a nil image for none, and
// returns the stored Image; c.mu is held.
func (c *ImageCache) store(repository string, image *imageapi.Image) *imageapi.Image {
	old := c.images[repository]
	switch {
	case image == nil && old == nil:
		return nil
	case image != nil && old != nil && apiequality.Semantic.DeepEqual(old.Status, image.Status):
		return old
	}
	c.revision++
	change := changefeed.Change[*imageapi.Image]{ResourceVersion: c.revision, Old: old, Current: image, Last: image}
	if image == nil {
		gone := old.DeepCopy()
		gone.ResourceVersion = strconv.FormatUint(c.revision, 10)
		change.Last = gone
		delete(c.images, repository)
	} else {
		image.ResourceVersion = strconv.FormatUint(c.revision, 10)
		if old != nil {
			image.CreationTimestamp, image.UID = old.CreationTimestamp, old.UID
		} else {
			image.CreationTimestamp = earliestCreated(image)
		}
		c.images[repository] = image
	}
	c.feed.Record(change)
	return image
}

// earliestCreated dates a repository by its oldest image.
func earliestCreated(image *imageapi.Image) metav1.Time {
	var earliest metav1.Time
	for _, tag := range image.Status.Tags {
		if tag.Created != nil && (earliest.IsZero() || tag.Created.Before(&earliest)) {
			earliest = *tag.Created
		}
	}
	if earliest.IsZero() {
		return metav1.Now()
	}
	return earliest
}

// Available says whether the registry answers now: lists and watches are
// served from memory, and must not pass off a stale cache while the
// registry is down. A ping costs one small request.
func (c *ImageCache) Available(ctx context.Context) error { return c.client.Ping(ctx) }

// WaitForSync waits until the whole registry was read once.
func (c *ImageCache) WaitForSync(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(syncWait):
		return &UnavailableError{Registry: c.client.Host(), Err: errors.New("its catalog has not been read yet")}
	}
}

// List returns copies of the Images accepted by visible, by namespace and
// name, and the revision they are current at.
func (c *ImageCache) List(visible func(*imageapi.Image) bool) ([]imageapi.Image, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	images := make([]imageapi.Image, 0, len(c.images))
	for _, image := range c.sortedImages(visible) {
		images = append(images, *image.DeepCopy())
	}
	return images, c.revision
}

// sortedImages are the Images visible accepts, by namespace and name;
// c.mu is held.
func (c *ImageCache) sortedImages(visible func(*imageapi.Image) bool) []*imageapi.Image {
	return changefeed.Sorted(c.images, visible)
}

// Get reads the repository from the registry, so that a get never lags a
// push, and returns a copy; nil when the repository has no tags.
func (c *ImageCache) Get(ctx context.Context, repository string) (*imageapi.Image, error) {
	image, err := c.refresh(ctx, repository)
	if err != nil || image == nil {
		return nil, err
	}
	return image.DeepCopy(), nil
}

// Delete removes the repository from the registry and the cache.
func (c *ImageCache) Delete(ctx context.Context, repository string) error {
	if err := c.client.DeleteRepository(ctx, repository); err != nil {
		return err
	}
	_, err := c.refresh(ctx, repository)
	return err
}

// Watch streams the changes of the Images visible accepts.
func (c *ImageCache) Watch(ctx context.Context, opts changefeed.WatchOptions, visible func(*imageapi.Image) bool) (watch.Interface, error) {
	return c.feed.Watch(ctx, opts, visible, func() []*imageapi.Image { return c.sortedImages(visible) })
}
