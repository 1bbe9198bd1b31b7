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

package namespaceimport_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	genericregistrytest "k8s.io/apiserver/pkg/registry/generic/testing"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
	"github.com/acp-archon/archon/pkg/registry/auth/namespaceimport"
)

// The store of import records behaves as every generic registry store
// does, on the real etcd3 storage. Creating through the REST, which runs
// the import first, has tests of its own.
func TestConformance(t *testing.T) {
	tester := func(t *testing.T) *genericregistrytest.Tester {
		kube := kubefake.NewClientset()
		quotas, err := quota.NewReader(kube, nil)
		if err != nil {
			t.Fatal(err)
		}
		protected := protectednamespace.New()
		imports, err := namespaceimport.NewStorage(api.Scheme,
			storagetest.RESTOptions(t, etcdURL, authv1.SchemeGroupVersion, auth.Resource("namespaceimports")),
			namespaceimport.NewImporter("global", archonfake.NewSimpleClientset().AuthV1().Projects(), kube, quotas, protected), nil, protected)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(imports.Destroy)
		return genericregistrytest.New(t, namespaceimport.RecordStore(imports)).ClusterScope()
	}
	valid := func() *auth.NamespaceImport {
		return &auth.NamespaceImport{
			ObjectMeta: metav1.ObjectMeta{Name: "import-legacy"},
			Spec:       auth.NamespaceImportSpec{Project: "shop", Cluster: "global", Namespace: "legacy"},
			Status:     auth.NamespaceImportStatus{Phase: auth.NamespaceImportSucceeded},
		}
	}
	t.Run("Create", func(t *testing.T) {
		invalid := valid()
		invalid.Spec.Project = ""
		tester(t).TestCreate(valid(), invalid)
	})
	// No Update: records cannot be changed (only archon's completion of an
	// Importing record can, through another strategy; strategy_test.go).
	t.Run("Delete", func(t *testing.T) { tester(t).TestDelete(valid()) })
	t.Run("Get", func(t *testing.T) { tester(t).TestGet(valid()) })
	t.Run("List", func(t *testing.T) { tester(t).TestList(valid()) })
	t.Run("Watch", func(t *testing.T) {
		tester(t).TestWatch(valid(),
			[]labels.Set{{}},
			[]labels.Set{{"batch": "2"}},
			[]fields.Set{
				{"metadata.name": "import-legacy"},
				{auth.NamespaceImportProjectField: "shop"},
				{auth.NamespaceImportNamespaceField: "legacy"},
				{auth.NamespaceImportPhaseField: string(auth.NamespaceImportSucceeded)},
			},
			[]fields.Set{
				{"metadata.name": "other"},
				{auth.NamespaceImportProjectField: "other"},
				{auth.NamespaceImportPhaseField: string(auth.NamespaceImportImporting)},
			},
		)
	})
}
