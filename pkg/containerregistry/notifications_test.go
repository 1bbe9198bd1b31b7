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

func TestOnlyPushesAndDeletionsRefresh(t *testing.T) {
	for _, c := range []struct {
		action, mediaType, tag string
		refresh                bool
	}{
		{"push", "application/vnd.oci.image.manifest.v1+json", "v1", true},
		{"push", "application/vnd.docker.distribution.manifest.list.v2+json", "", true},
		{"push", "application/vnd.oci.image.layer.v1.tar+gzip", "", false},
		{"delete", "", "", true},
		// archon's own reads are pulls: refreshing on them would never end.
		{"pull", "application/vnd.oci.image.manifest.v1+json", "v1", false},
		{"mount", "application/vnd.oci.image.layer.v1.tar+gzip", "", false},
	} {
		if got := changesTags(c.action, c.mediaType, c.tag); got != c.refresh {
			t.Errorf("%s of %s (tag %q): refresh %v, want %v", c.action, c.mediaType, c.tag, got, c.refresh)
		}
	}
}

// A notification's tag is read from the registry by name: one that is not
// a tag would change the URL read (v1?x reads v1) and show as a tag.
func TestValidTag(t *testing.T) {
	for tag, valid := range map[string]bool{
		"v1": true, "1.2.3-rc.1": true, "latest": true, "_x": true, strings.Repeat("a", 128): true,
		"": false, "v1?x": false, "a/b": false, ".hidden": false, "-x": false, "a b": false, strings.Repeat("a", 129): false,
	} {
		if got := ValidTag(tag); got != valid {
			t.Errorf("ValidTag(%q) = %v, want %v", tag, got, valid)
		}
	}
}
