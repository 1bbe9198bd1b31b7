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

package templateapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	applisters "github.com/acp-archon/archon/pkg/generated/listers/app/v1beta1"
	"github.com/acp-archon/archon/pkg/helmrepo"
)

// CatalogNamespace holds the platform's repositories; those labeled
// project.cpaas.io/catalog=true serve every namespace.
const CatalogNamespace = "cpaas-system"

// Charts finds and downloads the charts template applications name: from
// a repository of the application's namespace the requester may read, or
// from one of the platform's catalog.
type Charts struct {
	repositories applisters.ChartRepoLister
	local        *helmrepo.Local
	fetcher      *helmrepo.PackageFetcher
	credentials  func(context.Context, *appv1beta1.ChartRepo) (helmrepo.Credentials, error)
	reviews      authorizationclient.SubjectAccessReviewInterface
}

// NewCharts returns the finder: repositories from their lister, charts
// from the catalog and Local packages of local, remote packages through
// fetcher with the repositories' credentials; reviews ask whether the
// requester may read a repository of its namespace.
func NewCharts(repositories applisters.ChartRepoLister, local *helmrepo.Local, fetcher *helmrepo.PackageFetcher,
	credentials func(context.Context, *appv1beta1.ChartRepo) (helmrepo.Credentials, error), reviews authorizationclient.SubjectAccessReviewInterface) *Charts {
	return &Charts{repositories: repositories, local: local, fetcher: fetcher, credentials: credentials, reviews: reviews}
}

// Load downloads the template's chart for an application of namespace.
// What cannot be loaded is a ChartLoadFailed *Failure.
func (c *Charts) Load(ctx context.Context, namespace string, t Template, as Requester) (*chart.Chart, error) {
	repo, err := c.repository(ctx, namespace, t.Repository, as)
	if err != nil {
		return nil, err
	}
	key := types.NamespacedName{Namespace: repo.Namespace, Name: repo.Name}
	catalog := c.local.Catalog()
	version, ok := catalog.Version(key, t.Chart, t.Version)
	if !ok {
		return nil, c.missing(key, repo, t)
	}
	var data []byte
	switch repo.Spec.Type {
	case appv1beta1.ChartRepoTypeLocal:
		data, err = c.readLocal(repo.UID, t)
	case appv1beta1.ChartRepoTypeChart, appv1beta1.ChartRepoTypeOCI:
		var credentials helmrepo.Credentials
		if credentials, err = c.credentials(ctx, repo); err != nil {
			break
		}
		if repo.Spec.Type == appv1beta1.ChartRepoTypeOCI {
			data, err = c.fetcher.FetchOCI(ctx, version, credentials)
		} else {
			data, err = c.fetcher.FetchChart(ctx, repo.Spec.URL, version, credentials)
		}
	default:
		err = fmt.Errorf("repository %s has type %q, which archon does not read", repo.Name, repo.Spec.Type)
	}
	if err != nil {
		return nil, FailForNow(ReasonChartLoadFailed, fmt.Sprintf("downloading %s %s: %v", t.Source(), t.Version, err))
	}
	loaded, err := helmrepo.LoadArchive(data, c.local.Store().Limits())
	if err != nil {
		return nil, FailForNow(ReasonChartLoadFailed, fmt.Sprintf("the package of %s %s is not a usable chart: %v", t.Source(), t.Version, err))
	}
	if loaded.Name() != t.Chart || loaded.Metadata.Version != t.Version {
		return nil, FailForNow(ReasonChartLoadFailed, fmt.Sprintf("the package of %s %s holds chart %s %s", t.Source(), t.Version, loaded.Name(), loaded.Metadata.Version))
	}
	return loaded, nil
}

// repository finds the repository a template names: in the namespace if
// the requester may read it there, else in the catalog.
func (c *Charts) repository(ctx context.Context, namespace, name string, as Requester) (*appv1beta1.ChartRepo, error) {
	repo, err := c.repositories.ChartRepos(namespace).Get(name)
	if err == nil {
		review, err := c.reviews.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: as.Username, UID: as.UID, Groups: as.Groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: "get",
				Group: appv1beta1.GroupName, Resource: "chartrepos", Name: name},
		}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("checking the requester's access to repository %s: %w", name, err)
		}
		if review.Status.Allowed {
			return repo, nil
		}
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	repo, err = c.repositories.ChartRepos(CatalogNamespace).Get(name)
	if err == nil && repo.Labels[appv1beta1.CatalogLabel] == "true" {
		return repo, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	return nil, FailForNow(ReasonChartLoadFailed, fmt.Sprintf(
		"no chart repository %s that user %s may read in namespace %s, and none in the platform's catalog (kubectl get chartrepos -n %s, kubectl get chartrepos -n %s -l %s=true)",
		name, as.Username, namespace, namespace, CatalogNamespace, appv1beta1.CatalogLabel))
}

// missing says what the repository has instead of the version asked for.
func (c *Charts) missing(key types.NamespacedName, repo *appv1beta1.ChartRepo, t Template) error {
	if repo.Status.Phase != appv1beta1.ChartRepoSynced {
		return FailForNow(ReasonChartLoadFailed, fmt.Sprintf("repository %s/%s is %s, not synchronized: %s", key.Namespace, key.Name,
			orUnknown(string(repo.Status.Phase)), orUnknown(repo.Status.Reason)))
	}
	found := c.local.Catalog().Get(types.NamespacedName{Namespace: key.Namespace, Name: helmrepo.ChartObjectName(t.Chart, key.Name)})
	if found == nil {
		return FailForNow(ReasonChartLoadFailed, fmt.Sprintf("repository %s/%s has no chart %s (kubectl get charts -n %s -l app.alauda.io/chartrepo=%s)",
			key.Namespace, key.Name, t.Chart, key.Namespace, key.Name))
	}
	var versions []string
	for _, v := range found.Status.Versions {
		versions = append(versions, v.Version)
	}
	return FailForNow(ReasonChartLoadFailed, fmt.Sprintf("chart %s has no version %s (it has %s); a deleted version cannot be installed or upgraded to",
		t.Source(), t.Version, strings.Join(versions, ", ")))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// readLocal reads a package of a Local repository.
func (c *Charts) readLocal(uid types.UID, t Template) ([]byte, error) {
	file, err := c.local.Store().Open(uid, t.Chart, helmrepo.PackageFile(t.Chart, t.Version))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the package was deleted")
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	limit := c.local.Store().Limits().Archive
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the package is larger than %d bytes", limit)
	}
	return data, nil
}
