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

package chart

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "<chart>.<repository>."},
	{Name: "Repo", Type: "string", Description: "The chart repository."},
	{Name: "Latest", Type: "string", Description: "The newest version."},
	{Name: "App Version", Type: "string", Description: "The application version of the newest version."},
	{Name: "Versions", Type: "integer", Description: "Number of versions."},
	{Name: "Description", Type: "string", Priority: 1, Description: "The newest version's description."},
}

// tableConvertor prints charts the way "kubectl get charts" shows them.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(chart *app.Chart) []interface{} {
		var latest app.ChartVersion
		if len(chart.Status.Versions) > 0 {
			latest = chart.Status.Versions[0]
		}
		return []interface{}{chart.Name, chart.Labels[app.ChartRepoLabel], latest.Version, latest.AppVersion,
			int64(len(chart.Status.Versions)), latest.Description}
	})
}
