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

package chartrepo_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistrytest "k8s.io/apiserver/pkg/registry/generic/testing"

	"github.com/acp-archon/archon/pkg/apis/app"
)

// The chart repository store behaves as every generic registry store
// does, on the real etcd3 storage. The repositories name no secret: the
// check that the author may read one has tests of its own.
func TestConformance(t *testing.T) {
	tester := func(t *testing.T) *genericregistrytest.Tester {
		repos, _ := newStorage(t)
		return genericregistrytest.New(t, repos.Store)
	}
	valid := func() *app.ChartRepo {
		return &app.ChartRepo{
			ObjectMeta: metav1.ObjectMeta{Name: "stable"}, // the tester picks the namespace
			Spec:       app.ChartRepoSpec{Type: app.ChartRepoTypeChart, URL: "https://charts.example.com"},
			Status:     app.ChartRepoStatus{Phase: app.ChartRepoPending},
		}
	}
	t.Run("Create", func(t *testing.T) {
		invalid := valid()
		invalid.Spec.URL = "ftp://charts.example.com"
		tester(t).TestCreate(valid(), invalid)
	})
	t.Run("Update", func(t *testing.T) {
		tester(t).TestUpdate(valid(),
			func(obj runtime.Object) runtime.Object {
				repo := obj.(*app.ChartRepo)
				repo.Labels = map[string]string{"tier": "public"}
				return repo
			},
			func(obj runtime.Object) runtime.Object {
				repo := obj.(*app.ChartRepo)
				repo.Spec.URL = "https://elsewhere.example.com" // the URL is fixed
				return repo
			})
	})
	t.Run("Delete", func(t *testing.T) { tester(t).TestDelete(valid()) })
	t.Run("Get", func(t *testing.T) { tester(t).TestGet(valid()) })
	t.Run("List", func(t *testing.T) { tester(t).TestList(valid()) })
	t.Run("Watch", func(t *testing.T) {
		tester(t).TestWatch(valid(),
			[]labels.Set{{}},
			[]labels.Set{{"tier": "private"}},
			[]fields.Set{{"metadata.name": "stable"}, {app.ChartRepoTypeField: string(app.ChartRepoTypeChart)}, {app.ChartRepoPhaseField: string(app.ChartRepoPending)}},
			[]fields.Set{{"metadata.name": "other"}, {app.ChartRepoTypeField: string(app.ChartRepoTypeOCI)}, {app.ChartRepoPhaseField: string(app.ChartRepoSynced)}},
		)
	})
}
