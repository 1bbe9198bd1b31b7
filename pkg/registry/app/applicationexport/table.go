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

package applicationexport

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/app"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the export."},
	{Name: "Application", Type: "string", Description: "The exported application."},
	{Name: "Format", Type: "string", Description: "HelmChart, YAML or Kustomize."},
	{Name: "Bytes", Type: "integer", Description: "Size of the artifact."},
	{Name: "Files", Type: "string", Description: "Paths inside the artifact."},
}

// cells are the row of an export.
func cells(object runtime.Object) []any {
	exp := object.(*app.ApplicationExport)
	return []any{exp.Name, exp.Spec.Application, string(exp.Spec.Format), int64(len(exp.Status.Artifact)), strings.Join(exp.Status.Files, ",")}
}
