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

package namespaceresourceratio_test

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
	"github.com/acp-archon/archon/pkg/registry/resource/namespaceresourceratio"
)

var etcdURL string

func TestMain(m *testing.M) {
	os.Exit(storagetest.Main(m, &etcdURL))
}

func TestANamespaceHasOneRatio(t *testing.T) {
	store, err := namespaceresourceratio.NewStorage(api.Scheme,
		storagetest.RESTOptions(t, etcdURL, resourcev1.SchemeGroupVersion, resource.Resource("namespaceresourceratios")),
		namespaceresourceratio.ClusterRatios{CPU: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Destroy)
	create := func(namespace, name string) (*resource.NamespaceResourceRatio, error) {
		ctx := genericapirequest.WithNamespace(genericapirequest.NewContext(), namespace)
		obj, err := store.Create(ctx, &resource.NamespaceResourceRatio{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}},
			rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		return obj.(*resource.NamespaceResourceRatio), nil
	}
	first, err := create("one", "ratio")
	if err != nil {
		t.Fatal(err)
	}
	if first.Status.ClusterCPU != 2 || first.Status.ClusterMemory != 0 {
		t.Errorf("status %+v, want the cluster's ratios", first.Status)
	}
	if _, err := create("one", "second"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "NamespaceResourceRatio ratio") {
		t.Errorf("a second ratio in the namespace: %v, want 409 naming the first", err)
	}
	if _, err := create("two", "ratio"); err != nil {
		t.Errorf("a ratio in another namespace: %v", err)
	}
}
