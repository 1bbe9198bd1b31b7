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

package requestauth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSharedTokenAdmitsOnlyItsSecret(t *testing.T) {
	served := false
	handler := SharedToken([]byte("0123456789abcdef\n"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }))
	for authorization, want := range map[string]int{
		"":                               http.StatusUnauthorized,
		"Bearer wrong":                   http.StatusUnauthorized,
		"Basic MDEyMzQ1Njc4OWFiY2RlZg==": http.StatusUnauthorized,
		"Bearer 0123456789abcdef":        http.StatusOK,
	} {
		served = false
		req := httptest.NewRequest(http.MethodPost, "/registry/notifications", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != want || served != (want == http.StatusOK) {
			t.Errorf("Authorization %q: %d (served %v), want %d", authorization, rec.Code, served, want)
		}
	}
}

func TestNamesAudience(t *testing.T) {
	jwt := func(claims string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	for token, want := range map[string]bool{
		jwt(`{"aud":"archon-registry"}`):                                    true,
		jwt(`{"aud":["https://kubernetes.default.svc","archon-registry"]}`): true,
		jwt(`{"aud":["https://kubernetes.default.svc"]}`):                   false,
		jwt(`{"aud":"archon-registry-x"}`):                                  false,
		jwt(`{}`):                                                           false,
		"not-a-jwt":                                                         false,
		"a.!!!.c":                                                           false,
	} {
		if got := namesAudience(token, "archon-registry"); got != want {
			t.Errorf("%s: %v, want %v", token, got, want)
		}
	}
}
