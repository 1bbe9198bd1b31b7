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

package namespaceimport

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the record."},
	{Name: "Project", Type: "string", Description: "Project the namespace joins."},
	{Name: "Namespace", Type: "string", Description: "Namespace imported."},
	{Name: "Cluster", Type: "string", Description: "Cluster of the namespace."},
	{Name: "Phase", Type: "string", Description: "Succeeded or Failed."},
	{Name: "Age", Type: "string", Description: "Time since the import."},
	{Name: "Message", Type: "string", Priority: 1, Description: "Why the import failed, or what it did."},
}

type tableConvertor struct{}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(imp *auth.NamespaceImport) []interface{} {
		message := ""
		if c := meta.FindStatusCondition(imp.Status.Conditions, authv1.NamespaceImportConditionImported); c != nil {
			message = c.Message
		}
		return []interface{}{imp.Name, imp.Spec.Project, imp.Spec.Namespace, imp.Spec.Cluster, string(imp.Status.Phase), printers.Age(imp.CreationTimestamp), message}
	})
}
