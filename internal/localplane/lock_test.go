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

package localplane

import (
	"strings"
	"testing"
)

func TestSecondPlaneInOneDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDir(dir); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second lock: %v, want a refusal naming the running plane", err)
	}
	first.Close()
	again, err := lockDir(dir)
	if err != nil {
		t.Fatalf("lock after the first plane stopped: %v", err)
	}
	again.Close()
}
