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
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"

	"github.com/acp-archon/archon/pkg/apis/resource"
	"github.com/acp-archon/archon/pkg/keyedmutex"
)

// ClusterRatios are the cluster's overcommit ratios (0: none).
type ClusterRatios struct {
	CPU, Memory int64
}

// REST serves namespaceresourceratios.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// ShortNames lets users type "kubectl get nrr".
func (*REST) ShortNames() []string { return []string{"nrr"} }

// NewStorage returns the storage of namespaceresourceratios, whose status
// shows cluster.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, cluster ClusterRatios) (*REST, error) {
	s := strategy{scheme, names.SimpleNameGenerator}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &resource.NamespaceResourceRatio{} },
		NewListFunc:               func() runtime.Object { return &resource.NamespaceResourceRatioList{} },
		DefaultQualifiedResource:  resource.Resource("namespaceresourceratios"),
		SingularQualifiedResource: resource.Resource("namespaceresourceratio"),

		CreateStrategy: s,
		UpdateStrategy: s,
		DeleteStrategy: s,

		TableConvertor: tableConvertor{},
		Decorator:      func(obj runtime.Object) { showCluster(obj, cluster) },
	}
	// Creates are serialized per namespace on this replica, so that two at
	// once cannot both find the namespace without a ratio.
	var creating keyedmutex.Mutex[string]
	store.BeginCreate = func(ctx context.Context, obj runtime.Object, _ *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
		ratio := obj.(*resource.NamespaceResourceRatio)
		unlock := creating.Lock(ratio.Namespace)
		list, err := store.List(ctx, &metainternalversion.ListOptions{})
		if err != nil {
			unlock()
			return nil, err
		}
		if items := list.(*resource.NamespaceResourceRatioList).Items; len(items) > 0 {
			unlock()
			return nil, apierrors.NewConflict(resource.Resource("namespaceresourceratios"), ratio.Name, fmt.Errorf(
				"namespace %s has the NamespaceResourceRatio %s already, and a namespace has one: change that one", ratio.Namespace, items[0].Name))
		}
		return func(context.Context, bool) { unlock() }, nil
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}

// showCluster fills the status of ratios with the cluster's.
func showCluster(obj runtime.Object, cluster ClusterRatios) {
	status := resource.NamespaceResourceRatioStatus{ClusterCPU: cluster.CPU, ClusterMemory: cluster.Memory}
	switch o := obj.(type) {
	case *resource.NamespaceResourceRatio:
		o.Status = status
	case *resource.NamespaceResourceRatioList:
		for i := range o.Items {
			o.Items[i].Status = status
		}
	}
}
