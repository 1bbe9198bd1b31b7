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

package namespaceresourceratio

import (
	"context"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/resource"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the ratio."},
	{Name: "CPU", Type: "string", Description: "The CPU overcommit ratio in force: the namespace's, or the cluster's (inherited); none for 0."},
	{Name: "Memory", Type: "string", Description: "The memory overcommit ratio in force, as CPU."},
	{Name: "Age", Type: "string", Description: "Time since the ratio was created."},
}

// tableConvertor prints ratios the way "kubectl get namespaceresourceratios" shows them.
type tableConvertor struct{}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(ratio *resource.NamespaceResourceRatio) []interface{} {
		return []interface{}{ratio.Name, inForce(ratio.Spec.CPU, ratio.Status.ClusterCPU), inForce(ratio.Spec.Memory, ratio.Status.ClusterMemory),
			printers.Age(ratio.CreationTimestamp)}
	})
}

// inForce says which ratio applies: the namespace's, or the cluster's.
func inForce(own *int64, cluster int64) string {
	ratio, inherited := cluster, own == nil
	if !inherited {
		ratio = *own
	}
	text := "none"
	if ratio > 1 {
		text = strconv.FormatInt(ratio, 10)
	}
	if inherited {
		text += " (cluster)"
	}
	return text
}
