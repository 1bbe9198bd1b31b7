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

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestArchonServesOperationalEndpoints asks archon directly, as the
// cluster admin, for what operators and clients read besides the API.
func TestArchonServesOperationalEndpoints(t *testing.T) {
	ctx := testContext(t)
	direct := adminConfig(t)
	direct.Host = plane.ArchonURL
	client := archonClient(t, direct).Discovery().RESTClient()
	for path, want := range map[string]string{
		"/healthz":    "ok",
		"/livez":      "ok",
		"/readyz":     "ok",
		"/metrics":    "apiserver_request_total",
		"/openapi/v2": `"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"`,
		"/openapi/v3": `"apis/auth.alauda.io/v1"`,
	} {
		body, err := client.Get().AbsPath(path).DoRaw(ctx)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		if !strings.Contains(string(body), want) {
			t.Errorf("GET %s does not contain %s", path, want)
		}
	}

	body, err := client.Get().AbsPath("/openapi/v3/apis/auth.alauda.io/v1").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				GroupVersionKind []map[string]string `json:"x-kubernetes-group-version-kind"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &spec); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, schema := range spec.Components.Schemas {
		for _, gvk := range schema.GroupVersionKind {
			found = found || gvk["group"] == "auth.alauda.io" && gvk["kind"] == "Project"
		}
	}
	if !found {
		t.Error("OpenAPI v3 of auth.alauda.io/v1 has no schema tagged with the Project kind; server-side apply and explain need it")
	}
}
