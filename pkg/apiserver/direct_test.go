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
	"net/http/httptest"
	"testing"

	genericapiserver "k8s.io/apiserver/pkg/server"
)

func TestLimitInFlightAnswers429BeyondTheLimit(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	slow := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		started <- struct{}{}
		<-release
	})
	limited := limitInFlight(slow, 1, "busy")
	go limited.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))
	<-started
	rec := httptest.NewRecorder()
	limited.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	close(release)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("second request: %d %v", rec.Code, rec.Header())
	}
}

func TestDirectRoutesMatchExactPathsAndPrefixes(t *testing.T) {
	route := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Route", name) })
	}
	handler := withDirectRoutes(func(http.Handler, *genericapiserver.Config) http.Handler { return route("chain") },
		[]directRoute{{path: "/token", handler: route("token")}, {path: "/repos/", handler: route("repos")}})(nil, nil)
	for path, want := range map[string]string{"/token": "token", "/token/x": "chain", "/repos/a/index.yaml": "repos", "/repos": "chain", "/apis": "chain"} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("Route"); got != want {
			t.Errorf("%s went to %s, want %s", path, got, want)
		}
	}
}
