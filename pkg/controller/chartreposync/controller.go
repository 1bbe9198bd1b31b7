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

// Package chartreposync keeps the chart catalog current: it loads Local
// repositories from the chart store, reads the index of Chart and OCI
// repositories when they change and periodically, and writes each
// repository's status. It runs on every replica, since every replica
// serves charts from its own catalog.
package chartreposync

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	applisters "github.com/acp-archon/archon/pkg/generated/listers/app/v1beta1"
	"github.com/acp-archon/archon/pkg/helmrepo"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// ResyncAnnotation asks for a repository to be synchronized now: any
// new value does.
const ResyncAnnotation = "app.alauda.io/resync"

// Controller synchronizes chart repositories into the catalog.
type Controller struct {
	archon  archonclient.Interface
	kube    kubernetes.Interface
	repos   applisters.ChartRepoLister
	synced  cache.InformerSynced
	local   *helmrepo.Local
	catalog *helmrepo.Catalog
	// readers read the index of each type of remote repository.
	readers map[appv1beta1.ChartRepoType]indexReader
	resync  time.Duration
	queue   *keyqueue.Queue

	mu sync.Mutex
	// fetched records what each repository was last read as.
	fetched map[types.NamespacedName]fetch
	// stale holds the repositories a registry said changed since.
	stale map[types.NamespacedName]bool
}

// indexReader reads the index of a remote repository at a URL.
type indexReader func(context.Context, string, helmrepo.Credentials) (*helmrepo.IndexFile, error)

// fetch is what a repository looked like when it was last read.
type fetch struct {
	uid        types.UID
	generation int64
	requested  string
	at         time.Time
}

// New returns the controller, wired to the ChartRepo informer; call it
// before starting the informer.
func New(archon archonclient.Interface, kube kubernetes.Interface, informers archoninformers.SharedInformerFactory,
	local *helmrepo.Local, index *helmrepo.IndexFetcher, oci *helmrepo.OCIFetcher, resync time.Duration) (*Controller, error) {
	informer := informers.App().V1beta1().ChartRepos()
	c := &Controller{
		archon: archon, kube: kube,
		repos:  informer.Lister(),
		synced: informer.Informer().HasSynced,
		local:  local, catalog: local.Catalog(), resync: resync,
		readers: map[appv1beta1.ChartRepoType]indexReader{
			appv1beta1.ChartRepoTypeChart: index.Fetch,
			appv1beta1.ChartRepoTypeOCI:   oci.Fetch,
		},
		fetched: map[types.NamespacedName]fetch{},
		stale:   map[types.NamespacedName]bool{},
	}
	c.queue = keyqueue.New("chartrepo-sync", c.sync)
	if err := c.queue.Watch(informer.Informer(), func(obj any) []string {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			return []string{key}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// A deleted Local repository's packages go with it.
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if repo, ok := obj.(*appv1beta1.ChartRepo); ok && repo.Spec.Type == appv1beta1.ChartRepoTypeLocal {
			if err := local.Remove(types.NamespacedName{Namespace: repo.Namespace, Name: repo.Name}, repo.UID); err != nil {
				klog.ErrorS(err, "Removing a deleted repository's charts failed", "chartrepo", klog.KObj(repo))
			}
		}
	}})
	return c, err
}

// Changed asks for a repository's status to be written again, after an
// upload or a deletion changed its charts.
func (c *Controller) Changed(repository types.NamespacedName) {
	c.queue.Add(repository.Namespace + "/" + repository.Name)
}

// Repository finds a repository's UID and type in the informer's cache.
func (c *Controller) Repository(namespace, name string) (types.UID, appv1beta1.ChartRepoType, bool) {
	repo, err := c.repos.ChartRepos(namespace).Get(name)
	if err != nil {
		return "", "", false
	}
	return repo.UID, repo.Spec.Type, true
}

// orphanGrace is how long a stored repository must have been left alone
// before it counts as deleted: a replica starting up must not take a
// repository created and written to by another for one it missed.
const orphanGrace = 10 * time.Minute

// Run synchronizes repositories with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), c.synced) {
			c.removeOrphans(ctx)
		}
	}()
	c.queue.Run(ctx, workers)
}

// removeOrphans deletes the packages of Local repositories deleted while
// archon was not watching: those untouched for a while whose UID no
// repository has, by a list read from the server rather than the cache.
func (c *Controller) removeOrphans(ctx context.Context) {
	logger := klog.FromContext(ctx)
	stored, err := c.local.Store().Repositories()
	if err != nil {
		logger.Error(err, "Listing stored chart repositories failed")
		return
	}
	repos, err := c.archon.AppV1beta1().ChartRepos("").List(ctx, metav1.ListOptions{})
	if err != nil {
		logger.Error(err, "Listing chart repositories failed; leaving stored charts alone")
		return
	}
	known := map[types.UID]bool{}
	for _, repo := range repos.Items {
		known[repo.UID] = true
	}
	for uid, changed := range stored {
		if known[uid] || time.Since(changed) < orphanGrace {
			continue
		}
		logger.Info("Removing the charts of a deleted repository", "uid", uid)
		if err := c.local.Store().Remove(uid); err != nil {
			logger.Error(err, "Removing a deleted repository's charts failed", "uid", uid)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	id := types.NamespacedName{Namespace: namespace, Name: name}
	repo, err := c.repos.ChartRepos(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.catalog.Remove(id)
		c.mu.Lock()
		delete(c.fetched, id)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}

	status := repo.Status.DeepCopy()
	switch repo.Spec.Type {
	case appv1beta1.ChartRepoTypeLocal:
		load := c.local.Load
		if c.due(id, repo) <= 0 {
			// Now and then the store is read again: replicas sharing it
			// see each other's uploads.
			c.markFetched(id, repo)
			load = c.local.Reload
			c.queue.AddAfter(key, c.resync)
		}
		if err := load(id, repo.UID); err != nil {
			return fmt.Errorf("reading the repository's charts: %w", err)
		}
		charts, _ := c.catalog.Charts(id)
		if status.Phase != appv1beta1.ChartRepoSynced || status.Charts != int32(charts) || status.LastSyncTime == nil {
			now := metav1.Now()
			*status = appv1beta1.ChartRepoStatus{Phase: appv1beta1.ChartRepoSynced, Charts: int32(charts), LastSyncTime: &now}
		}
	case appv1beta1.ChartRepoTypeChart, appv1beta1.ChartRepoTypeOCI:
		wait := c.due(id, repo)
		if wait > 0 {
			c.queue.AddAfter(key, wait)
			return nil
		}
		c.fetchIndex(ctx, id, repo, status)
		c.queue.AddAfter(key, c.resync)
	default:
		*status = appv1beta1.ChartRepoStatus{Phase: appv1beta1.ChartRepoFailed, Reason: fmt.Sprintf("unknown repository type %q", repo.Spec.Type)}
	}
	if apiequality.Semantic.DeepEqual(*status, repo.Status) {
		return nil
	}
	updated := repo.DeepCopy()
	updated.Status = *status
	_, err = c.archon.AppV1beta1().ChartRepos(namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// due says how long until the repository should be fetched: now when it
// is new or changed or a resync was asked for, else a resync period after
// the last fetch.
func (c *Controller) due(id types.NamespacedName, repo *appv1beta1.ChartRepo) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.fetched[id]
	if !ok || c.stale[id] || last.uid != repo.UID || last.generation != repo.Generation || last.requested != repo.Annotations[ResyncAnnotation] {
		return 0
	}
	return time.Until(last.at.Add(c.resync))
}

// markFetched records that the repository was read as it is now.
func (c *Controller) markFetched(id types.NamespacedName, repo *appv1beta1.ChartRepo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched[id] = fetch{uid: repo.UID, generation: repo.Generation, requested: repo.Annotations[ResyncAnnotation], at: time.Now()}
	delete(c.stale, id)
}

// RegistryChanged has the OCI repositories holding a registry repository
// read again now: a push or deletion there changed their charts.
func (c *Controller) RegistryChanged(registry, repository string) {
	repos, err := c.repos.List(labels.Everything())
	if err != nil {
		return
	}
	for _, repo := range repos {
		if repo.Spec.Type != appv1beta1.ChartRepoTypeOCI {
			continue
		}
		host, path, _ := strings.Cut(strings.TrimPrefix(repo.Spec.URL, "oci://"), "/")
		if host != registry || !strings.HasPrefix(repository, strings.Trim(path, "/")+"/") {
			continue
		}
		c.mu.Lock()
		c.stale[types.NamespacedName{Namespace: repo.Namespace, Name: repo.Name}] = true
		c.mu.Unlock()
		c.queue.Add(repo.Namespace + "/" + repo.Name)
	}
}

// RegistryImages is the image cache of a container registry, as
// FollowRegistry reads it.
type RegistryImages interface {
	List(visible func(*imageapi.Image) bool) ([]imageapi.Image, uint64)
	Watch(ctx context.Context, opts changefeed.WatchOptions, visible func(*imageapi.Image) bool) (watch.Interface, error)
}

// FollowRegistry calls RegistryChanged for every change to the images of
// registry until ctx is done, so that a chart pushed to the platform
// registry shows in its OCI repositories at once rather than at the next
// resync. A failed or ended watch is started again a second later.
func (c *Controller) FollowRegistry(ctx context.Context, registry string, images RegistryImages) {
	logger := klog.FromContext(ctx).WithValues("registry", registry)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		_, revision := images.List(func(*imageapi.Image) bool { return false })
		changes, err := images.Watch(ctx, changefeed.WatchOptions{ResourceVersion: strconv.FormatUint(revision, 10)},
			func(*imageapi.Image) bool { return true })
		if err != nil {
			logger.Error(err, "Watching the platform registry's images failed; retrying")
			return
		}
		defer changes.Stop()
		for event := range changes.ResultChan() {
			if image, ok := event.Object.(*imageapi.Image); ok && event.Type != watch.Bookmark {
				c.RegistryChanged(registry, image.Status.Repository)
			}
		}
	}, time.Second)
}

// fetchIndex reads a remote repository's index into the catalog; a
// failure keeps the last good index and says why in the status.
func (c *Controller) fetchIndex(ctx context.Context, id types.NamespacedName, repo *appv1beta1.ChartRepo, status *appv1beta1.ChartRepoStatus) {
	c.markFetched(id, repo)

	credentials, err := c.Credentials(ctx, repo)
	var index *helmrepo.IndexFile
	if err == nil {
		index, err = c.readers[repo.Spec.Type](ctx, repo.Spec.URL, credentials)
	}
	if err != nil {
		klog.FromContext(ctx).Info("Synchronizing a chart repository failed; its last good index stays served", "chartrepo", klog.KObj(repo), "err", err)
		status.Phase, status.Reason = appv1beta1.ChartRepoFailed, err.Error()
		return
	}
	c.catalog.SetIndex(id, repo.UID, index)
	now := metav1.Now()
	*status = appv1beta1.ChartRepoStatus{Phase: appv1beta1.ChartRepoSynced, Charts: int32(index.Charts()), LastSyncTime: &now}
}

// Credentials reads the repository's secret: username and password, and
// ca.crt, tls.crt and tls.key.
func (c *Controller) Credentials(ctx context.Context, repo *appv1beta1.ChartRepo) (helmrepo.Credentials, error) {
	if repo.Spec.Secret == nil {
		return helmrepo.Credentials{}, nil
	}
	namespace := repo.Spec.Secret.Namespace
	if namespace == "" {
		namespace = repo.Namespace
	}
	secret, err := c.kube.CoreV1().Secrets(namespace).Get(ctx, repo.Spec.Secret.Name, metav1.GetOptions{})
	if err != nil {
		return helmrepo.Credentials{}, fmt.Errorf("reading the secret %s/%s: %w", namespace, repo.Spec.Secret.Name, err)
	}
	return helmrepo.Credentials{
		Username: string(secret.Data["username"]),
		Password: string(secret.Data["password"]),
		CA:       secret.Data["ca.crt"],
		Cert:     secret.Data["tls.crt"],
		Key:      secret.Data["tls.key"],
	}, nil
}
