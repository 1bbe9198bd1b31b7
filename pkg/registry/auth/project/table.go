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

package project

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the project."},
	{Name: "Display-Name", Type: "string", Description: "The cpaas.io/display-name annotation."},
	{Name: "Clusters", Type: "string", Description: "Clusters the project spans."},
	{Name: "Namespaces", Type: "integer", Description: "Number of namespaces in the project."},
	{Name: "Members", Type: "integer", Description: "Number of members of the project."},
	{Name: "Status", Type: "string", Description: "Phase of the project."},
	{Name: "Age", Type: "string", Description: "Time since the project was created."},
	{Name: "Description", Type: "string", Priority: 1, Description: "The cpaas.io/description annotation."},
}

// tableConvertor prints projects the way "kubectl get projects" shows them.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(project *auth.Project) []interface{} {
		clusters := make([]string, 0, len(project.Spec.Clusters))
		for _, cluster := range project.Spec.Clusters {
			clusters = append(clusters, cluster.Name)
		}
		return []interface{}{
			project.Name,
			project.Annotations[auth.DisplayNameAnnotation],
			strings.Join(clusters, ","),
			int64(len(project.Status.Namespaces)),
			int64(len(project.Spec.Members)),
			string(project.Status.Phase),
			printers.Age(project.CreationTimestamp),
			project.Annotations[auth.DescriptionAnnotation],
		}
	})
}
