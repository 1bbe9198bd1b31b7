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

package apiserver

import (
	"net/http"
	"strings"

	genericapiserver "k8s.io/apiserver/pkg/server"
)

// directRoute is a path archon serves around the server's filters: its
// clients (registry clients, helm) send Kubernetes tokens as the password
// of basic authentication, which the filters would take for an anonymous
// request and strip. Its handler authenticates every request itself with
// the server's authenticator.
type directRoute struct {
	// path is served exactly, or as a prefix when it ends in "/".
	path    string
	handler http.Handler
}

func (r directRoute) matches(path string) bool {
	if strings.HasSuffix(r.path, "/") {
		return strings.HasPrefix(path, r.path)
	}
	return path == r.path
}

// withDirectRoutes sends the routes' requests to their handlers and every
// other request through the filters build makes.
func withDirectRoutes(build func(http.Handler, *genericapiserver.Config) http.Handler, routes []directRoute) func(http.Handler, *genericapiserver.Config) http.Handler {
	return func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		chain := build(apiHandler, c)
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			for _, route := range routes {
				if route.matches(req.URL.Path) {
					route.handler.ServeHTTP(w, req)
					return
				}
			}
			chain.ServeHTTP(w, req)
		})
	}
}

// limitInFlight serves at most inFlight requests at a time and answers
// the rest 429 with a Retry-After, as kube-apiserver answers its own
// overload: outside the filters, direct routes bring their own bounds.
func limitInFlight(h http.Handler, inFlight int, message string) http.Handler {
	slots := make(chan struct{}, inFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, message, http.StatusTooManyRequests)
		}
	})
}
