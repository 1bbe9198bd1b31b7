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
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/requestauth"
)

// PathPrefix is where archon serves Local repositories to helm:
// <prefix><namespace>/<name>/index.yaml and the packages it points to.
const PathPrefix = "/chartrepos/"

// RepositoryGetter finds a ChartRepo's UID and type.
type RepositoryGetter func(ctx context.Context, namespace, name string) (types.UID, app.ChartRepoType, error)

// Server serves Local repositories to helm: every request is
// authenticated with the caller's Kubernetes credentials and authorized
// as get on the ChartRepo.
type Server struct {
	authenticator authenticator.Request
	authorizer    authorizer.Authorizer
	repositories  RepositoryGetter
	local         *Local
}

// NewServer returns the handler serving the repositories of local to helm.
func NewServer(authn authenticator.Request, authz authorizer.Authorizer, repositories RepositoryGetter, local *Local) *Server {
	return &Server{authenticator: authn, authorizer: authz, repositories: repositories, local: local}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "chart repositories are read with GET; upload to the chartrepos/charts subresource", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, PathPrefix), "/")
	var chart, file string
	switch {
	case len(parts) == 3 && parts[2] == "index.yaml":
	case len(parts) == 5 && parts[2] == "charts":
		chart, file = parts[3], parts[4]
	default:
		http.Error(w, "not found: a repository serves "+PathPrefix+"<namespace>/<name>/index.yaml and the packages it lists", http.StatusNotFound)
		return
	}
	namespace, name := parts[0], parts[1]

	caller, err := requestauth.Authenticate(s.authenticator, r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="archon chart repositories"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	allowed, _ := authz.UserAllowed(r.Context(), s.authorizer, caller, authorizer.AttributesRecord{
		Verb: "get", Namespace: namespace, Name: name,
		APIGroup: app.GroupName, APIVersion: appv1beta1.SchemeGroupVersion.Version, Resource: "chartrepos", ResourceRequest: true,
	})
	if !allowed {
		http.Error(w, fmt.Sprintf("forbidden: user %q cannot get chartrepos %q in the namespace %q", caller.GetName(), name, namespace), http.StatusForbidden)
		return
	}

	uid, repoType, err := s.repositories(r.Context(), namespace, name)
	if apierrors.IsNotFound(err) {
		http.Error(w, fmt.Sprintf("the chart repository %s/%s does not exist", namespace, name), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if repoType != app.ChartRepoTypeLocal {
		http.Error(w, fmt.Sprintf("%s/%s is a %s repository: helm reads it at its own URL", namespace, name, repoType), http.StatusNotFound)
		return
	}
	id := types.NamespacedName{Namespace: namespace, Name: name}
	if err := s.local.Load(id, uid); errors.Is(err, ErrRepositoryRemoved) {
		http.Error(w, fmt.Sprintf("the chart repository %s/%s does not exist", namespace, name), http.StatusNotFound)
		return
	} else if err != nil {
		klog.ErrorS(err, "Loading a Local repository failed", "chartrepo", id)
		http.Error(w, "the repository's charts cannot be read", http.StatusServiceUnavailable)
		return
	}
	if file == "" {
		s.serveIndex(w, r, id)
		return
	}
	s.servePackage(w, r, uid, chart, file)
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request, id types.NamespacedName) {
	index, generated, ok, err := s.local.catalog.IndexYAML(id)
	if err != nil || !ok {
		http.Error(w, "the repository's index cannot be rendered", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	w.Header().Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "index.yaml", generated, bytes.NewReader(index))
}

func (s *Server) servePackage(w http.ResponseWriter, r *http.Request, uid types.UID, chart, file string) {
	f, err := s.local.store.Open(uid, chart, file)
	if err != nil {
		http.Error(w, "the repository holds no package "+file, http.StatusNotFound)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		http.Error(w, "the package cannot be read", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, r, file, info.ModTime(), f)
}
