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

package apiserver

import (
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/app"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	imageapi "github.com/acp-archon/archon/pkg/apis/image"
	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
	resourceapi "github.com/acp-archon/archon/pkg/apis/resource"
	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	"github.com/acp-archon/archon/pkg/registry/app/chart"
	"github.com/acp-archon/archon/pkg/registry/image/image"
)

// apiGroups are the API groups archon serves, one provider each.
func (s *assembly) apiGroups() []genericapiserver.APIGroupInfo {
	groups := []genericapiserver.APIGroupInfo{s.authGroup(), s.appGroup(), s.resourceGroup()}
	if s.images != nil {
		groups = append(groups, s.imageGroup())
	}
	return groups
}

// authGroup is auth.alauda.io: projects, and where archon extends a
// cluster, namespace imports and namespace members.
func (s *assembly) authGroup() genericapiserver.APIGroupInfo {
	resources := map[string]rest.Storage{
		"projects":        s.projects,
		"projects/status": s.projectStatus,
	}
	if !s.clients.standalone() {
		resources["namespaceimports"] = s.imports
		resources["namespacemembers"] = s.members
	}
	group := api.NewAPIGroupInfo(auth.GroupName)
	group.VersionedResourcesStorageMap[authv1.SchemeGroupVersion.Version] = resources
	return group
}

// appGroup is app.alauda.io: the chart catalog, and where archon extends
// a cluster, the operations on its applications (exports, snapshots,
// stops and starts, imports and removals, rollbacks).
func (s *assembly) appGroup() genericapiserver.APIGroupInfo {
	resources := map[string]rest.Storage{
		"chartrepos":        s.charts.repositories,
		"chartrepos/status": s.charts.status,
		"chartrepos/charts": s.charts.charts,
		"charts":            chart.NewREST(s.charts.local.Catalog()),
	}
	if !s.clients.standalone() {
		resources["applicationexports"] = s.exports
		resources["applicationsnapshots"] = s.snapshots
		resources["applicationstops"] = s.stops
		resources["applicationstarts"] = s.starts
		resources["applicationimports"] = s.appImports
		resources["applicationremovals"] = s.removals
		resources["applicationrollbacks"] = s.rollbacks
	}
	group := api.NewAPIGroupInfo(app.GroupName)
	group.VersionedResourcesStorageMap[appv1beta1.SchemeGroupVersion.Version] = resources
	return group
}

// resourceGroup is resource.alauda.io: the policies on pods' resources.
func (s *assembly) resourceGroup() genericapiserver.APIGroupInfo {
	group := api.NewAPIGroupInfo(resourceapi.GroupName)
	group.VersionedResourcesStorageMap[resourcev1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"namespaceresourceratios": s.ratios,
		"acp-nodegroups":          s.nodeGroups,
	}
	return group
}

// imageGroup is registry.alauda.io: the container registry's images.
func (s *assembly) imageGroup() genericapiserver.APIGroupInfo {
	group := api.NewAPIGroupInfo(imageapi.GroupName)
	group.VersionedResourcesStorageMap[imagev1.SchemeGroupVersion.Version] = map[string]rest.Storage{
		"images": image.NewREST(s.images.cache),
	}
	return group
}
