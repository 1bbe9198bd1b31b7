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

package project_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistrytest "k8s.io/apiserver/pkg/registry/generic/testing"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// The project store behaves as every generic registry store does, on the
// real etcd3 storage. The REST around it (visibility-filtered lists, the
// refusal to delete a project owning namespaces) has tests of its own.
func TestConformance(t *testing.T) {
	tester := func(t *testing.T) *genericregistrytest.Tester {
		projects, _ := newStorage(t, sharedEtcdURL)
		return genericregistrytest.New(t, projects.Store).ClusterScope()
	}
	valid := func() *auth.Project {
		project := newProject("conformance")
		project.Status = auth.ProjectStatus{Phase: auth.ProjectActive}
		return project
	}
	t.Run("Create", func(t *testing.T) {
		invalid := valid()
		invalid.Spec.Members[0].Role = "owner"
		tester(t).TestCreate(valid(), invalid)
	})
	t.Run("Update", func(t *testing.T) {
		tester(t).TestUpdate(valid(),
			func(obj runtime.Object) runtime.Object {
				project := obj.(*auth.Project)
				project.Spec.Members = append(project.Spec.Members, auth.ProjectMember{Kind: auth.MemberKindUser, Name: "bob", Role: auth.ProjectRoleAuditor})
				return project
			},
			func(obj runtime.Object) runtime.Object {
				project := obj.(*auth.Project)
				project.Spec.Clusters[0].Name = "Not_A_Cluster"
				return project
			})
	})
	t.Run("Delete", func(t *testing.T) { tester(t).TestDelete(valid()) })
	t.Run("Get", func(t *testing.T) { tester(t).TestGet(valid()) })
	t.Run("List", func(t *testing.T) { tester(t).TestList(valid()) })
	t.Run("Watch", func(t *testing.T) {
		tester(t).TestWatch(valid(),
			[]labels.Set{{}},
			[]labels.Set{{"team": "other"}},
			[]fields.Set{{"metadata.name": "conformance"}, {auth.ProjectPhaseField: string(auth.ProjectActive)}},
			[]fields.Set{{"metadata.name": "other"}, {auth.ProjectPhaseField: string(auth.ProjectTerminating)}},
		)
	})
}
