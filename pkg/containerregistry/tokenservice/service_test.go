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

package tokenservice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/acp-archon/archon/pkg/containerregistry"
)

// rules are what the fake RBAC allows: "user verb namespace name", where
// the name * is a rule without resourceNames, which allows every image.
var rules = map[string]bool{
	"pusher update team-a *": true, "pusher get team-a *": true,
	"creator create team-a *": true, "creator get team-a *": true,
	"puller get team-a *": true,
	"admin list  *":       true,
	// A Role with resourceNames: [app].
	"scoped get team-a app": true, "scoped update team-a app": true,
	"cleaner get team-a *": true, "cleaner delete team-a *": true,
}

// existing are the repositories the fake registry holds.
var existing = map[string]bool{"team-a/app": true}

type fakeRepositories struct{}

func (fakeRepositories) Tags(_ context.Context, repository string) ([]string, error) {
	if existing[repository] {
		return []string{"v1"}, nil
	}
	return nil, nil
}

func newService(t *testing.T) *Service {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	path := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := containerregistry.NewSigner(path, "archon", "archon-registry", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Tokens are "token-<user>"; anything else is anonymous.
	authn := authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
		if name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer token-"); ok {
			return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: user.Anonymous}}, true, nil
	})
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if a.GetAPIGroup() != "registry.alauda.io" || a.GetResource() != "images" {
			return authorizer.DecisionNoOpinion, "", nil
		}
		rule := a.GetUser().GetName() + " " + a.GetVerb() + " " + a.GetNamespace() + " "
		if rules[rule+"*"] || rules[rule+a.GetName()] {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})
	return New(signer, authn, authz, fakeRepositories{})
}

// grants asks the service for scopes as user (with basic authentication,
// as registry clients do) and returns the status and the granted access.
func grants(t *testing.T, s *Service, who string, scopes ...string) (int, []string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, Path+"?"+url.Values{"service": {"archon-registry"}, "scope": scopes}.Encode(), nil)
	if who != "" {
		req.SetBasicAuth("any", "token-"+who)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var body tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Token != body.AccessToken || body.ExpiresIn <= 0 {
		t.Errorf("response %+v", body)
	}
	token, err := jwt.ParseSigned(body.Token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims containerregistry.TokenClaims
	if err := token.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	var granted []string
	for _, access := range claims.Access {
		granted = append(granted, access.Type+":"+access.Name+":"+strings.Join(access.Actions, ","))
	}
	sort.Strings(granted)
	return rec.Code, granted
}

func TestGrantsFollowRBAC(t *testing.T) {
	s := newService(t)
	for _, c := range []struct {
		name, user string
		scopes     []string
		want       string
	}{
		{"push to an existing repository needs update", "pusher", []string{"repository:team-a/app:pull,push"}, "repository:team-a/app:pull,push"},
		{"create is enough for a new repository", "creator", []string{"repository:team-a/new:pull,push"}, "repository:team-a/new:pull,push"},
		{"but not for an existing one", "creator", []string{"repository:team-a/app:pull,push"}, "repository:team-a/app:pull"},
		{"a puller pulls only", "puller", []string{"repository:team-a/app:pull,push,delete"}, "repository:team-a/app:pull"},
		{"another namespace grants nothing", "pusher", []string{"repository:team-b/app:pull,push"}, ""},
		{"several scopes in one parameter", "pusher", []string{"repository:team-a/app:pull repository:team-b/x:pull"}, "repository:team-a/app:pull"},
		{"the catalog needs cluster-wide list", "pusher", []string{"registry:catalog:*"}, ""},
		{"which admins have", "admin", []string{"registry:catalog:*"}, "registry:catalog:*"},
		{"a repository outside any namespace", "pusher", []string{"repository:app:pull"}, ""},
		{"unknown resource types", "pusher", []string{"blob:team-a/app:pull"}, ""},
		{"no scope is a login", "puller", nil, ""},
		{"resourceNames allow the repositories they name", "scoped", []string{"repository:team-a/app:pull,push"}, "repository:team-a/app:pull,push"},
		{"and no other", "scoped", []string{"repository:team-a/other:pull,push"}, ""},
		{"delete needs the delete verb", "cleaner", []string{"repository:team-a/app:pull,delete"}, "repository:team-a/app:pull,delete"},
		{"which pushers lack", "pusher", []string{"repository:team-a/app:delete"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, granted := grants(t, s, c.user, c.scopes...)
			if code != http.StatusOK || strings.Join(granted, ";") != c.want {
				t.Errorf("%d %q, want 200 %q", code, granted, c.want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	s := newService(t)
	if code, _ := grants(t, s, "", "repository:team-a/app:pull"); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code, _ := grants(t, s, "pusher", "repository"); code != http.StatusBadRequest {
		t.Errorf("malformed scope: %d, want 400", code)
	}
	other := httptest.NewRequest(http.MethodGet, Path+"?service=another-registry&scope=repository:team-a/app:pull", nil)
	other.SetBasicAuth("any", "token-pusher")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, other)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("another service: %d, want 400", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

// A request for many scopes is refused before any authorization: each
// scope would cost checks against kube-apiserver.
func TestScopesAreBounded(t *testing.T) {
	s := newService(t)
	checks := 0
	authz := s.authorizer
	s.authorizer = authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		checks++
		return authz.Authorize(ctx, a)
	})
	scope := func(n int) []string {
		scopes := make([]string, n)
		for i := range scopes {
			scopes[i] = fmt.Sprintf("repository:team-a/app%d:pull", i)
		}
		return scopes
	}
	if code, granted := grants(t, s, "puller", scope(MaxScopes)...); code != http.StatusOK || len(granted) != MaxScopes {
		t.Errorf("%d scopes: %d %v, want 200 granting each", MaxScopes, code, granted)
	}
	checks = 0
	for _, n := range []int{MaxScopes + 1, 10000} {
		if code, _ := grants(t, s, "puller", strings.Join(scope(n), " ")); code != http.StatusBadRequest {
			t.Errorf("%d scopes: %d, want 400", n, code)
		}
	}
	if code, _ := grants(t, s, "puller", "repository:team-a/app:pull,pull,pull,pull,pull"); code != http.StatusBadRequest {
		t.Errorf("five actions: %d, want 400", code)
	}
	if checks != 0 {
		t.Errorf("refused requests cost %d authorization checks, want none", checks)
	}
}
