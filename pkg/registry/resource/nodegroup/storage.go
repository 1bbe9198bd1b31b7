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

package nodegroup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/pkg/apis/resource"
	"github.com/acp-archon/archon/pkg/registry/printers"
)

// REST serves acp-nodegroups.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames lets users type "kubectl get ng".
func (*REST) ShortNames() []string { return []string{"ng"} }

// NewStorage returns the storage of node isolation policies.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*REST, error) {
	s := strategy{scheme, names.SimpleNameGenerator}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resource.NodeGroup{} },
		NewListFunc:               func() runtime.Object { return &resource.NodeGroupList{} },
		DefaultQualifiedResource:  resource.Resource("acp-nodegroups"),
		SingularQualifiedResource: resource.Resource("acp-nodegroup"),

		CreateStrategy: s,
		UpdateStrategy: s,
		DeleteStrategy: s,

		TableConvertor: tableConvertor{},
	}
	// Writes are serialized on this replica, so that two policies written
	// at once cannot both take a project or a node.
	var writing sync.Mutex
	check := func(ctx context.Context, group *resource.NodeGroup) (genericregistry.FinishFunc, error) {
		writing.Lock()
		if err := conflicts(ctx, store, group); err != nil {
			writing.Unlock()
			return nil, err
		}
		return func(context.Context, bool) { writing.Unlock() }, nil
	}
	store.BeginCreate = func(ctx context.Context, obj runtime.Object, _ *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
		return check(ctx, obj.(*resource.NodeGroup))
	}
	store.BeginUpdate = func(ctx context.Context, obj, _ runtime.Object, _ *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
		return check(ctx, obj.(*resource.NodeGroup))
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}

// conflicts refuses a policy naming a project or a node another policy
// names, naming that policy.
func conflicts(ctx context.Context, store *genericregistry.Store, group *resource.NodeGroup) error {
	list, err := store.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return err
	}
	var errs field.ErrorList
	for _, other := range list.(*resource.NodeGroupList).Items {
		if other.Name == group.Name {
			continue
		}
		for i, project := range group.Spec.Projects {
			if slices.Contains(other.Spec.Projects, project) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "projects").Index(i), project,
					fmt.Sprintf("project %s is in node isolation policy %s already: a project is in one policy at most", project, other.Name)))
			}
		}
		for i, node := range group.Spec.Nodes {
			if slices.Contains(other.Spec.Nodes, node) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "nodes").Index(i), node,
					fmt.Sprintf("node %s is in node isolation policy %s already: a node is in one policy at most", node, other.Name)))
			}
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(resource.Kind("NodeGroup"), group.Name, errs)
	}
	return nil
}

// tableConvertor prints policies the way "kubectl get acp-nodegroups"
// shows them.
type tableConvertor struct{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the policy."},
	{Name: "Projects", Type: "string", Description: "The projects whose pods run on the nodes."},
	{Name: "Nodes", Type: "string", Description: "The nodes, by name or internal IP."},
	{Name: "Exclusive", Type: "boolean", Description: "Whether other projects' pods are kept off the nodes."},
	{Name: "Age", Type: "string", Description: "Time since the policy was created."},
}

func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return printers.Convert(object, tableOptions, columns, func(group *resource.NodeGroup) []interface{} {
		return []interface{}{group.Name, strings.Join(group.Spec.Projects, ","), strings.Join(group.Spec.Nodes, ","), group.Spec.Exclusive,
			printers.Age(group.CreationTimestamp)}
	})
}
