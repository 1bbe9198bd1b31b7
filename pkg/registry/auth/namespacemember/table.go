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

package namespacemember

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the member (and of its RoleBinding)."},
	{Name: "Kind", Type: "string", Description: "User, Group or ServiceAccount."},
	{Name: "Subject", Type: "string", Description: "Name of the user, group or namespace/ServiceAccount."},
	{Name: "Role", Type: "string", Description: "namespace-admin, developer or viewer."},
	{Name: "Age", Type: "string", Description: "Time since the member was added."},
}

// ConvertToTable prints members the way "kubectl get namespacemembers" shows them.
func (r *REST) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(m *auth.NamespaceMember) []interface{} {
		return []interface{}{m.Name, string(m.Spec.Kind), subjectName(m.Spec), string(m.Spec.Role), printers.Age(m.CreationTimestamp)}
	})
}
