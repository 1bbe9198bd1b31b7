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

// Package image serves images.registry.alauda.io: a virtual resource, one
// Image per repository of the container registry, read from the
// image cache that archon keeps in memory. Nothing is stored in etcd.
package image

import (
	"context"
	"errors"

	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// REST serves Images from the cache.
type REST struct {
	cache *containerregistry.ImageCache
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.GracefulDeleter      = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST returns the storage of the Images cache holds.
func NewREST(cache *containerregistry.ImageCache) *REST { return &REST{cache: cache} }

func (r *REST) New() runtime.Object     { return &imageapi.Image{} }
func (r *REST) NewList() runtime.Object { return &imageapi.ImageList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "image" }

// Get reads the repository from the registry.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	repository, err := r.repository(ctx, name)
	if err != nil {
		return nil, err
	}
	image, err := r.cache.Get(ctx, repository)
	if err != nil {
		return nil, registryError(err)
	}
	if image == nil {
		return nil, apierrors.NewNotFound(imageapi.Resource("images"), name)
	}
	return image, nil
}

// List answers from the cache once the registry is known to answer:
// a registry that is down gets 503, not a stale list.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	visible, err := changefeed.Filter[*imageapi.Image](ctx, options, "images")
	if err != nil {
		return nil, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	images, revision := r.cache.List(visible)
	list := &imageapi.ImageList{Items: images}
	list.ResourceVersion = strconv.FormatUint(revision, 10)
	return list, nil
}

// Watch streams changes the registry notified archon of.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	visible, err := changefeed.Filter[*imageapi.Image](ctx, options, "images")
	if err != nil {
		return nil, err
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	return r.cache.Watch(ctx, changefeed.WatchOptionsOf(options), visible)
}

// Delete removes the repository from the registry.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, _ *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, obj); err != nil {
			return nil, false, err
		}
	}
	if err := r.cache.Delete(ctx, obj.(*imageapi.Image).Status.Repository); err != nil {
		return nil, false, registryError(err)
	}
	return obj, true, nil
}

func (r *REST) repository(ctx context.Context, name string) (string, error) {
	namespace, ok := genericapirequest.NamespaceFrom(ctx)
	if !ok || namespace == "" {
		return "", apierrors.NewBadRequest("images are namespaced: a namespace is required")
	}
	if err := containerregistry.ValidateImageName(name); err != nil {
		return "", apierrors.NewBadRequest("invalid image name " + strconv.Quote(name) + ": " + err.Error() + " (nested repositories write \"/\" as \"~\")")
	}
	repository := containerregistry.Repository(namespace, name)
	if err := containerregistry.ValidateRepository(repository); err != nil {
		return "", apierrors.NewBadRequest("invalid image name " + strconv.Quote(name) + ": " + err.Error())
	}
	return repository, nil
}

func (r *REST) ready(ctx context.Context) error {
	if err := r.cache.Available(ctx); err != nil {
		return registryError(err)
	}
	return registryError(r.cache.WaitForSync(ctx))
}

// registryError turns a failure to reach the registry into 503: the
// registry is a dependency, and clients should retry.
func registryError(err error) error {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case errors.As(err, &status):
		return err
	default:
		return apierrors.NewServiceUnavailable(err.Error())
	}
}
