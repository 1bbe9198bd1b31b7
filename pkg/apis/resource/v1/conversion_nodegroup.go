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

package v1

import (
	"k8s.io/apimachinery/pkg/conversion"

	"github.com/acp-archon/archon/pkg/apis/resource"
)

// Convert_v1_NodeGroupSpec_To_resource_NodeGroupSpec takes an absent
// exclusive as true, as defaulting does.
func Convert_v1_NodeGroupSpec_To_resource_NodeGroupSpec(in *NodeGroupSpec, out *resource.NodeGroupSpec, s conversion.Scope) error {
	if err := autoConvert_v1_NodeGroupSpec_To_resource_NodeGroupSpec(in, out, s); err != nil {
		return err
	}
	out.Exclusive = in.Exclusive == nil || *in.Exclusive
	return nil
}

// Convert_resource_NodeGroupSpec_To_v1_NodeGroupSpec writes exclusive.
func Convert_resource_NodeGroupSpec_To_v1_NodeGroupSpec(in *resource.NodeGroupSpec, out *NodeGroupSpec, s conversion.Scope) error {
	if err := autoConvert_resource_NodeGroupSpec_To_v1_NodeGroupSpec(in, out, s); err != nil {
		return err
	}
	exclusive := in.Exclusive
	out.Exclusive = &exclusive
	return nil
}
