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
	"errors"
	"net/http"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
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
