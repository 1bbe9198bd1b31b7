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

package nodegroup_test

import (
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/resource"
	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	"github.com/acp-archon/archon/pkg/registry/resource/nodegroup"
)

var etcdURL string

func TestMain(m *testing.M) {
	os.Exit(storagetest.Main(m, &etcdURL))
}

func TestAProjectAndANodeAreInOnePolicy(t *testing.T) {
	store, err := nodegroup.NewStorage(api.Scheme, storagetest.RESTOptions(t, etcdURL, resourcev1.SchemeGroupVersion, resource.Resource("acp-nodegroups")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Destroy)
	// The handler puts the empty namespace in a cluster-scoped request.
	ctx := genericapirequest.WithNamespace(genericapirequest.NewContext(), "")
	create := func(name string, projects, nodes []string) error {
		_, err := store.Create(ctx, &resource.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: resource.NodeGroupSpec{Projects: projects, Nodes: nodes, Exclusive: true}}, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
		return err
	}
	if err := create("a", []string{"p1"}, []string{"n1", "n2"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		projects, nodes []string
		field           string
	}{{[]string{"p1"}, []string{"n3"}, "spec.projects[0]"}, {[]string{"p2"}, []string{"n3", "n2"}, "spec.nodes[1]"}} {
		err := create("b", tc.projects, tc.nodes)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "policy a") {
			t.Errorf("%v %v: %v, want 422 naming %s and policy a", tc.projects, tc.nodes, err, tc.field)
		}
	}
	if err := create("b", []string{"p2"}, []string{"n3"}); err != nil {
		t.Errorf("a policy of other projects and nodes: %v", err)
	}
}
