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

// Package tokenservice is the registry's token realm (the Docker registry
// token protocol): it authenticates Kubernetes credentials and grants each
// requested action the caller's RBAC allows on images in the namespace the
// repository belongs to.
package tokenservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/containerregistry"
	"github.com/acp-archon/archon/pkg/requestauth"
)

// Path is where the registry sends clients for tokens.
const Path = "/registry/token"

// MaxScopes bounds the scopes of one token request. Registry clients ask
// for one or two (a push from another repository: pull there, push here);
// each scope costs up to three authorization checks.
const MaxScopes = 8

// maxActions bounds the actions of one scope; there are three.
const maxActions = 4

// Repositories tells whether a repository exists, which decides whether a
// push needs create or update.
type Repositories interface {
	Tags(ctx context.Context, repository string) ([]string, error)
}

// Service issues registry tokens.
type Service struct {
	signer        *containerregistry.Signer
	authenticator authenticator.Request
	authorizer    authorizer.Authorizer
	repositories  Repositories
}

// New returns a token service. The authenticator and authorizer are the
// server's delegated ones, which cache TokenReview and SubjectAccessReview
// answers for a bounded time.
func New(signer *containerregistry.Signer, authn authenticator.Request, authz authorizer.Authorizer, repositories Repositories) *Service {
	return &Service{signer: signer, authenticator: authn, authorizer: authz, repositories: repositories}
}

// tokenResponse is the token protocol's answer.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "registry tokens are requested with GET", http.StatusMethodNotAllowed)
		return
	}
	if service := r.URL.Query().Get("service"); service != "" && service != s.signer.Audience() {
		http.Error(w, fmt.Sprintf("this token service issues tokens for the registry service %q, not %q", s.signer.Audience(), service), http.StatusBadRequest)
		return
	}
	// Scopes are read and bounded before anything is asked of
	// kube-apiserver: each costs authorization checks.
	var requested []containerregistry.Access
	for _, param := range r.URL.Query()["scope"] {
		for _, scope := range strings.Fields(param) {
			if len(requested) == MaxScopes {
				http.Error(w, fmt.Sprintf("a token request may ask for at most %d scopes; ask for the rest in another request", MaxScopes), http.StatusBadRequest)
				return
			}
			access, err := parseScope(scope)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			requested = append(requested, access)
		}
	}
	caller, status, reason := s.authenticate(r)
	if caller == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="archon registry token service"`)
		http.Error(w, reason, status)
		return
	}

	var granted []containerregistry.Access
	for _, access := range requested {
		allowed := s.authorize(r.Context(), caller, access)
		if len(allowed.Actions) > 0 {
			granted = append(granted, allowed)
		}
	}

	issued := time.Now()
	token, expires, err := s.signer.Sign(caller.GetName(), granted)
	if err != nil {
		klog.ErrorS(err, "Signing a registry token failed")
		http.Error(w, "signing the registry token failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenResponse{
		Token: token, AccessToken: token,
		ExpiresIn: int(expires.Sub(issued).Seconds()),
		IssuedAt:  issued.UTC().Format(time.RFC3339),
	})
}

// authenticate finds the caller; the status and reason answer a refusal.
func (s *Service) authenticate(r *http.Request) (user.Info, int, string) {
	caller, err := requestauth.Authenticate(s.authenticator, r)
	if err != nil {
		klog.InfoS("Registry token refused", "reason", "credentials not authenticated", "err", err)
		return nil, http.StatusUnauthorized, err.Error()
	}
	return caller, 0, ""
}

// verbs are the RBAC verbs on images each registry action needs.
var verbs = map[string]string{"pull": "get", "delete": "delete"}

// authorize returns the part of access the caller's RBAC allows.
func (s *Service) authorize(ctx context.Context, caller user.Info, access containerregistry.Access) containerregistry.Access {
	allowed := containerregistry.Access{Type: access.Type, Name: access.Name}
	deny := func(action, reason string) {
		klog.InfoS("Registry access denied", "user", caller.GetName(), "scope", access.Type+":"+access.Name, "action", action, "reason", reason)
	}

	if access.Type == "registry" {
		if access.Name == "catalog" && s.allows(ctx, caller, "list", "", "") {
			allowed.Actions = []string{"*"}
		} else {
			deny(strings.Join(access.Actions, ","), "listing the catalog needs list images in every namespace")
		}
		return allowed
	}

	if access.Type != "repository" {
		deny(strings.Join(access.Actions, ","), "unknown resource type")
		return allowed
	}
	namespace, name, err := containerregistry.SplitRepository(access.Name)
	if err != nil {
		deny(strings.Join(access.Actions, ","), err.Error())
		return allowed
	}
	actions := access.Actions
	if len(actions) == 1 && actions[0] == "*" {
		actions = []string{"pull", "push", "delete"}
	}
	for _, action := range actions {
		verb := verbs[action]
		switch {
		case action == "push":
			verb = "update"
			if !s.allows(ctx, caller, verb, namespace, name) {
				tags, err := s.repositories.Tags(ctx, access.Name)
				if err != nil {
					// Whether the repository is new is unknown: grant no push
					// on create alone, and the other actions as usual.
					deny(action, "the registry could not say whether the repository exists: "+err.Error())
					continue
				}
				if len(tags) == 0 {
					verb = "create"
				}
			}
		case verb == "":
			deny(action, "unknown action")
			continue
		}
		if s.allows(ctx, caller, verb, namespace, name) {
			allowed.Actions = append(allowed.Actions, action)
		} else {
			deny(action, fmt.Sprintf("%s images %q in namespace %q is not allowed", verb, name, namespace))
		}
	}
	if len(access.Actions) == 1 && access.Actions[0] == "*" && len(allowed.Actions) == 3 {
		allowed.Actions = []string{"*"}
	}
	return allowed
}

func (s *Service) allows(ctx context.Context, caller user.Info, verb, namespace, name string) bool {
	allowed, _ := authz.UserAllowed(ctx, s.authorizer, caller, authorizer.AttributesRecord{
		Verb:            verb,
		Namespace:       namespace,
		APIGroup:        imagev1.GroupName,
		APIVersion:      imagev1.SchemeGroupVersion.Version,
		Resource:        "images",
		Name:            name,
		ResourceRequest: true,
	})
	return allowed
}

// parseScope reads type:name:action[,action]; names hold no ":" but a
// registry host in a name would, so the type is before the first colon and
// the actions after the last.
func parseScope(scope string) (containerregistry.Access, error) {
	first, last := strings.Index(scope, ":"), strings.LastIndex(scope, ":")
	if first < 0 || first == last {
		return containerregistry.Access{}, fmt.Errorf("scope %q: want type:name:actions", scope)
	}
	resourceType := scope[:first]
	// A resource class, as in repository(plugin):name, does not change access.
	if i := strings.Index(resourceType, "("); i >= 0 {
		resourceType = resourceType[:i]
	}
	actions := strings.Split(scope[last+1:], ",")
	if len(actions) > maxActions {
		return containerregistry.Access{}, fmt.Errorf("scope %q: at most %d actions", scope, maxActions)
	}
	return containerregistry.Access{
		Type:    resourceType,
		Name:    scope[first+1 : last],
		Actions: actions,
	}, nil
}
