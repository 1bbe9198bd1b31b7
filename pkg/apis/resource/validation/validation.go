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

// Package validation checks resource.alauda.io objects, naming the field
// of each problem.
package validation

import (
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/acp-archon/archon/pkg/apis/resource"
)

// ValidateNamespaceResourceRatio checks a ratio: each absent (the
// cluster's), 0 (no overcommit) or an integer greater than 1.
func ValidateNamespaceResourceRatio(ratio *resource.NamespaceResourceRatio) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&ratio.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	for _, r := range []struct {
		name  string
		value *int64
	}{{"cpu", ratio.Spec.CPU}, {"memory", ratio.Spec.Memory}} {
		if r.value != nil && (*r.value < 0 || *r.value == 1) {
			errs = append(errs, field.Invalid(spec.Child(r.name), *r.value,
				"an overcommit ratio is an integer greater than 1, or 0 for none; leave it out to inherit the cluster's"))
		}
	}
	return errs
}

// ValidateNodeGroup checks a node isolation policy: at least one project
// and one node, each named once.
func ValidateNodeGroup(group *resource.NodeGroup) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&group.ObjectMeta, false, apivalidation.NameIsDNSLabel, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	for _, list := range []struct {
		name   string
		values []string
		what   string
	}{{"projects", group.Spec.Projects, "a project"}, {"nodes", group.Spec.Nodes, "a node (its name or internal IP address)"}} {
		path := spec.Child(list.name)
		if len(list.values) == 0 {
			errs = append(errs, field.Required(path, "name "+list.what+" at least"))
		}
		seen := map[string]bool{}
		for i, value := range list.values {
			switch {
			case value == "":
				errs = append(errs, field.Required(path.Index(i), "name "+list.what))
			case seen[value]:
				errs = append(errs, field.Duplicate(path.Index(i), value))
			}
			seen[value] = true
		}
	}
	return errs
}

// ValidateNodeGroupUpdate checks a policy changed.
func ValidateNodeGroupUpdate(group, old *resource.NodeGroup) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&group.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, ValidateNodeGroup(group)...)
}

// ValidateNamespaceResourceRatioUpdate checks a ratio changed.
func ValidateNamespaceResourceRatioUpdate(ratio, old *resource.NamespaceResourceRatio) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&ratio.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, ValidateNamespaceResourceRatio(ratio)...)
}
