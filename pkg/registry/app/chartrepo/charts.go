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
	"errors"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/helmrepo"
)

// ChartsREST serves chartrepos/charts: POST uploads a chart archive to a
// Local repository (?overwrite=true replaces a version it holds), DELETE
// .../charts/<chart>/<version> removes a version. Both need update on the
// repository, the permission to manage it.
type ChartsREST struct {
	repositories rest.Getter
	local        *helmrepo.Local
	authorizer   authorizer.Authorizer
	// changed is told of every change of a repository's charts.
	changed func(types.NamespacedName)
}

var _ rest.Connecter = &ChartsREST{}

// NewChartsREST returns the storage of uploads to the Local repositories of
// repositories.
func NewChartsREST(repositories rest.Getter, local *helmrepo.Local, authz authorizer.Authorizer, changed func(types.NamespacedName)) *ChartsREST {
	return &ChartsREST{repositories: repositories, local: local, authorizer: authz, changed: changed}
}

func (r *ChartsREST) New() runtime.Object { return &app.Chart{} }
func (r *ChartsREST) Destroy()            {}

// ConnectMethods are upload and delete.
func (r *ChartsREST) ConnectMethods() []string { return []string{http.MethodPost, http.MethodDelete} }

// NewConnectOptions returns the options of a connection: the chart and
// version of a delete, taken from the path.
func (r *ChartsREST) NewConnectOptions() (runtime.Object, bool, string) { return nil, true, "" }

// Connect checks the caller may manage the repository and hands the
// request to the upload or delete.
func (r *ChartsREST) Connect(ctx context.Context, name string, _ runtime.Object, responder rest.Responder) (http.Handler, error) {
	repo, err := r.manageable(ctx, name)
	if err != nil {
		return nil, err
	}
	id := types.NamespacedName{Namespace: repo.Namespace, Name: repo.Name}
	return http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			obj, err := r.upload(req, id, repo.UID)
			if err != nil {
				responder.Error(err)
				return
			}
			responder.Object(http.StatusCreated, obj)
			return
		}
		obj, err := r.delete(ctx, id, repo.UID)
		if err != nil {
			responder.Error(err)
			return
		}
		responder.Object(http.StatusOK, obj)
	}), nil
}

// Publish uploads a chart archive to a Local repository as the caller of
// ctx, who must be allowed to manage it and upload to it; a version it
// holds is not replaced. A dry run checks all that and stores nothing.
func (r *ChartsREST) Publish(ctx context.Context, namespace, name string, archive []byte, dryRun bool) error {
	ctx = genericapirequest.WithNamespace(ctx, namespace)
	if err := r.authorize(ctx, namespace, name, "create", "charts"); err != nil {
		return err
	}
	repo, err := r.manageable(ctx, name)
	if err != nil || dryRun {
		return err
	}
	_, err = r.put(types.NamespacedName{Namespace: namespace, Name: name}, repo.UID, archive, false, "export another chart version")
	return err
}

// manageable reads a Local repository the caller may manage. Permission
// comes first, so that a caller without it learns nothing of the
// repository.
func (r *ChartsREST) manageable(ctx context.Context, name string) (*app.ChartRepo, error) {
	if err := r.authorize(ctx, genericapirequest.NamespaceValue(ctx), name, "update", ""); err != nil {
		return nil, err
	}
	obj, err := r.repositories.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	repo := obj.(*app.ChartRepo)
	if repo.Spec.Type != app.ChartRepoTypeLocal {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%q is a %s repository; charts are uploaded to Local repositories only", name, repo.Spec.Type))
	}
	return repo, nil
}

// authorize asks whether the caller may verb the repository (or its
// subresource). Uploads and deletions need update on the repository, the
// permission to manage it, besides their own verb on chartrepos/charts,
// which the server checks before Connect.
func (r *ChartsREST) authorize(ctx context.Context, namespace, name, verb, subresource string) error {
	attrs := authorizer.AttributesRecord{
		Verb: verb, Namespace: namespace, Name: name, Subresource: subresource,
		APIGroup: app.GroupName, APIVersion: appv1beta1.SchemeGroupVersion.Version, Resource: "chartrepos", ResourceRequest: true,
	}
	return authz.Require(ctx, r.authorizer, attrs, app.Resource("chartrepos"), name, func(reason string) string {
		resource := "chartrepos"
		if subresource != "" {
			resource += "/" + subresource
		}
		return fmt.Sprintf("managing a repository's charts needs update on chartrepos and create on chartrepos/charts; you may not %s %s%s",
			verb, resource, authz.Parenthesized(reason))
	})
}

func (r *ChartsREST) upload(req *http.Request, id types.NamespacedName, uid types.UID) (*app.Chart, error) {
	limit := r.local.Store().Limits().Archive
	archive, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, apierrors.NewBadRequest("reading the chart archive: " + err.Error())
	}
	if int64(len(archive)) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("a chart archive may be %d bytes at most", limit))
	}
	return r.put(id, uid, archive, req.URL.Query().Get("overwrite") == "true", "upload with ?overwrite=true to replace it")
}

// put stores the archive and returns the Chart it added to; a conflict
// with a stored version says what to do instead.
func (r *ChartsREST) put(id types.NamespacedName, uid types.UID, archive []byte, overwrite bool, conflictHint string) (*app.Chart, error) {
	version, err := r.local.Upload(id, uid, archive, overwrite)
	var invalid *helmrepo.InvalidArchiveError
	var tooLarge *helmrepo.TooLargeError
	var exists *helmrepo.VersionExistsError
	switch {
	case errors.As(err, &invalid):
		return nil, apierrors.NewBadRequest("invalid chart archive: " + err.Error())
	case errors.As(err, &tooLarge):
		return nil, apierrors.NewRequestEntityTooLargeError(err.Error())
	case errors.Is(err, helmrepo.ErrRepositoryRemoved):
		return nil, apierrors.NewNotFound(app.Resource("chartrepos"), id.Name)
	case errors.As(err, &exists):
		return nil, apierrors.NewConflict(app.Resource("charts"), helmrepo.ChartObjectName(exists.Chart, id.Name),
			fmt.Errorf("%w; %s", exists, conflictHint))
	case err != nil:
		return nil, apierrors.NewInternalError(err)
	}
	r.changed(id)
	key := types.NamespacedName{Namespace: id.Namespace, Name: helmrepo.ChartObjectName(version.Name, id.Name)}
	if chart := r.local.Catalog().Get(key); chart != nil {
		return chart, nil
	}
	return nil, apierrors.NewInternalError(errors.New("the uploaded chart is not in the catalog"))
}

func (r *ChartsREST) delete(ctx context.Context, id types.NamespacedName, uid types.UID) (runtime.Object, error) {
	info, _ := genericapirequest.RequestInfoFrom(ctx)
	// The path is .../chartrepos/<name>/charts/<chart>/<version>.
	var chart, version string
	if info != nil && len(info.Parts) == 5 {
		chart, version = info.Parts[3], info.Parts[4]
	}
	if chart == "" || version == "" {
		return nil, apierrors.NewBadRequest("delete a chart version at chartrepos/<name>/charts/<chart>/<version>")
	}
	err := r.local.Delete(id, uid, chart, version)
	if errors.Is(err, helmrepo.ErrRepositoryRemoved) {
		return nil, apierrors.NewNotFound(app.Resource("chartrepos"), id.Name)
	}
	if errors.Is(err, helmrepo.ErrVersionNotFound) {
		return nil, apierrors.NewNotFound(app.Resource("charts"), helmrepo.ChartObjectName(chart, id.Name)+" version "+version)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	r.changed(id)
	return &metav1.Status{Status: metav1.StatusSuccess, Details: &metav1.StatusDetails{
		Group: app.GroupName, Kind: "charts", Name: helmrepo.ChartObjectName(chart, id.Name),
	}, Message: fmt.Sprintf("deleted version %s of %s", version, chart)}, nil
}
