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

// Package requestauth authenticates the requests archon serves outside
// the API server's filters, from tools that send a Kubernetes token as the
// password of basic authentication (registry clients, helm) as well as
// from clients with a bearer token or a client certificate.
package requestauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	tokencache "k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/pkg/authentication/user"
	webhooktoken "k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// ErrUnauthenticated says the request carried no valid credentials.
var ErrUnauthenticated = errors.New("a Kubernetes token is required (the password of basic authentication, or a bearer token) and it must be valid")

// Authenticate finds the caller with the server's authenticator: from a
// bearer token or client certificate, or from the token sent as the
// password of basic authentication. Anonymous callers are refused.
func Authenticate(authn authenticator.Request, r *http.Request) (user.Info, error) {
	if _, password, ok := r.BasicAuth(); ok {
		if password == "" {
			return nil, errors.New("the password must be a Kubernetes token")
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+password)
	}
	answer, authenticated, err := authn.AuthenticateRequest(r)
	if err != nil || !authenticated || answer.User.GetName() == user.Anonymous {
		return nil, ErrUnauthenticated
	}
	return answer.User, nil
}

// SharedToken serves h to requests whose bearer token is token, a secret
// shared with one client (the registry's notifications), and answers 401
// to every other request. token must not be empty.
func SharedToken(token []byte, h http.Handler) http.Handler {
	want := []byte("Bearer " + string(bytes.TrimSpace(token)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="archon"`)
			http.Error(w, "this endpoint needs the secret it shares with its client as a bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Audience returns an authenticator of bearer tokens issued for audience
// alone (a ServiceAccount token requested with that audience), by a
// TokenReview that asks kube-apiserver for it. Such tokens are useless
// against kube-apiserver itself, so a pull secret holding one hands its
// readers nothing more than pulls. Tokens that do not name the audience
// are left to other authenticators without a review, and answers are
// cached for a few seconds, as the server's own authenticator caches them.
func Audience(reviews authenticationv1client.AuthenticationV1Interface, audience string) (authenticator.Request, error) {
	noMetrics := webhooktoken.AuthenticatorMetrics{
		RecordRequestTotal:   func(context.Context, string) {},
		RecordRequestLatency: func(context.Context, string, float64) {},
	}
	audiences := authenticator.Audiences{audience}
	tokens, err := webhooktoken.NewFromInterface(reviews, audiences, *webhooktoken.DefaultRetryBackoff(), tokenReviewTimeout, noMetrics)
	if err != nil {
		return nil, err
	}
	cached := tokencache.New(tokens, true, tokenCacheTTL, tokenCacheTTL)
	return bearertoken.New(authenticator.TokenFunc(func(ctx context.Context, token string) (*authenticator.Response, bool, error) {
		if !namesAudience(token, audience) {
			return nil, false, nil
		}
		// The review asks for the audiences of the request's context.
		return cached.AuthenticateToken(authenticator.WithAudiences(ctx, audiences), token)
	})), nil
}

// namesAudience says whether token is a JWT whose unverified claims name
// audience: which authenticator to ask, not whether to believe it.
func namesAudience(token, audience string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Audience json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return false
	}
	var one string
	if json.Unmarshal(claims.Audience, &one) == nil {
		return one == audience
	}
	var many []string
	return json.Unmarshal(claims.Audience, &many) == nil && slices.Contains(many, audience)
}

const (
	tokenReviewTimeout = 10 * time.Second
	tokenCacheTTL      = 10 * time.Second
)
