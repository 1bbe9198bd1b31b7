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

package containerregistry

import (
	"strings"
	"testing"
)

func TestRepositoryNamesRoundTrip(t *testing.T) {
	for _, c := range []struct{ repository, namespace, image string }{
		{"team-a/app", "team-a", "app"},
		{"team-a/tools/build/go", "team-a", "tools~build~go"},
		{"ns/a.b_c__d-e", "ns", "a.b_c__d-e"},
	} {
		namespace, image, err := SplitRepository(c.repository)
		if err != nil || namespace != c.namespace || image != c.image {
			t.Errorf("SplitRepository(%q) = %q, %q, %v; want %q, %q", c.repository, namespace, image, err, c.namespace, c.image)
		}
		if back := Repository(namespace, image); back != c.repository {
			t.Errorf("Repository(%q, %q) = %q, want %q", namespace, image, back, c.repository)
		}
		if err := ValidateImageName(image); err != nil {
			t.Errorf("ValidateImageName(%q): %v", image, err)
		}
	}
}

func TestInvalidRepositoriesSayWhy(t *testing.T) {
	for repository, reason := range map[string]string{
		"app":               "<namespace>/<name>",
		"Team/app":          "not a namespace name",
		"team/App":          "not a valid path component",
		"team/app/":         "not a valid path component",
		"team/a~b":          "not a valid path component",
		"team/" + long(260): "longer than 255",
		"team--x-/app":      "not a namespace name",
		"team/app..x":       "not a valid path component",
	} {
		err := ValidateRepository(repository)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("ValidateRepository(%q) = %v, want an error saying %q", repository, err, reason)
		}
	}
	if err := ValidateImageName("Bad_Name"); err == nil {
		t.Error("an image name with capitals was accepted")
	}
}

func long(n int) string { return strings.Repeat("a", n) }
