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

// Package storagetest runs storage tests against the real etcd3 storage
// on an embedded etcd member.
package storagetest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage/storagebackend"

	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/embeddedetcd"
)

// Main starts one embedded etcd member for a package's tests, runs them
// with *url set to its client URL, stops it, and returns the exit code
// for TestMain to pass to os.Exit. Starting a member per test would cost
// more than the tests.
func Main(m *testing.M, url *string) int {
	dir, err := os.MkdirTemp("", "archon-storage-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	server, err := embeddedetcd.Start(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	*url = server.ClientURL
	return m.Run()
}

// RESTOptions are the storage options of resource, stored as version, on
// the member at url. Keys go under a prefix named after the test, so
// tests sharing a member never see each other's objects, and a second
// call in one test sees the first's.
func RESTOptions(t testing.TB, url string, version schema.GroupVersion, resource schema.GroupResource) generic.RESTOptions {
	t.Helper()
	config := storagebackend.NewDefaultConfig("/"+t.Name(), api.Codecs.LegacyCodec(version))
	config.Transport.ServerList = []string{url}
	return generic.RESTOptions{
		StorageConfig:  config.ForResource(resource),
		Decorator:      generic.UndecoratedStorage,
		ResourcePrefix: resource.Group + "/" + resource.Resource,
	}
}

// CheckFieldSelectors fails t unless the server accepts a field selector
// on kind for every field of selectable (what the storage's attribute
// function exposes for one object) and refuses one on a field it lacks:
// a selector the server accepts must be one the storage can match.
func CheckFieldSelectors(t testing.TB, kind schema.GroupVersionKind, selectable fields.Set) {
	t.Helper()
	for field, value := range selectable {
		if label, converted, err := api.Scheme.ConvertFieldLabel(kind, field, value); err != nil || label != field || converted != value {
			t.Errorf("%s: the storage exposes field %s, which a field selector cannot name: %q, %q, %v", kind.Kind, field, label, converted, err)
		}
	}
	if _, _, err := api.Scheme.ConvertFieldLabel(kind, "spec.nothing", "x"); err == nil {
		t.Errorf("%s: a field selector on spec.nothing, which the storage does not expose, is accepted", kind.Kind)
	}
}
