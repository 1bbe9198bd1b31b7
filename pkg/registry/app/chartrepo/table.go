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

package chartrepo

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/app"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the repository."},
	{Name: "Type", Type: "string", Description: "Chart, OCI or Local."},
	{Name: "URL", Type: "string", Description: "Address of the repository; Local repositories are served by archon."},
	{Name: "Phase", Type: "string", Description: "Pending, Synced or Failed."},
	{Name: "Charts", Type: "integer", Description: "Number of charts in the repository."},
	{Name: "Age", Type: "string", Description: "Time since the repository was added."},
	{Name: "Reason", Type: "string", Priority: 1, Description: "Why the latest synchronization failed."},
}

// tableConvertor prints repositories the way "kubectl get chartrepos" shows them.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(repo *app.ChartRepo) []interface{} {
		url := repo.Spec.URL
		if repo.Spec.Type == app.ChartRepoTypeLocal {
			url = "/chartrepos/" + repo.Namespace + "/" + repo.Name + "/"
		}
		return []interface{}{repo.Name, string(repo.Spec.Type), url, string(repo.Status.Phase),
			int64(repo.Status.Charts), printers.Age(repo.CreationTimestamp), repo.Status.Reason}
	})
}
