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

package app

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CatalogLabel marks the chart repositories of the platform's catalog.
const CatalogLabel = "project.cpaas.io/catalog"

// ChartRepoType says where a repository's charts come from.
type ChartRepoType string

const (
	// ChartRepoTypeChart is a classic helm repository over HTTP(S).
	ChartRepoTypeChart ChartRepoType = "Chart"
	// ChartRepoTypeOCI holds charts as OCI artifacts under a registry path.
	ChartRepoTypeOCI ChartRepoType = "OCI"
	// ChartRepoTypeLocal is hosted by archon.
	ChartRepoTypeLocal ChartRepoType = "Local"
)

// ChartRepoPhase is where a repository's synchronization stands.
type ChartRepoPhase string

// The phases of a repository's synchronization.
const (
	ChartRepoPending ChartRepoPhase = "Pending"
	ChartRepoSynced  ChartRepoPhase = "Synced"
	ChartRepoFailed  ChartRepoPhase = "Failed"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartRepo is a repository of Helm charts.
type ChartRepo struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ChartRepoSpec
	Status ChartRepoStatus
}

// ChartRepoSpec says where the charts are.
type ChartRepoSpec struct {
	Type   ChartRepoType
	URL    string
	Secret *SecretReference
}

// SecretReference names the secret holding a repository's credentials.
type SecretReference struct {
	Name      string
	Namespace string
}

// ChartRepoStatus is the outcome of the latest synchronization.
type ChartRepoStatus struct {
	Phase        ChartRepoPhase
	Reason       string
	LastSyncTime *metav1.Time
	Charts       int32
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartRepoList is a list of ChartRepos.
type ChartRepoList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ChartRepo
}

// ApplicationExportFormat is the form of an exported application.
type ApplicationExportFormat string

// The forms an application can be exported in.
const (
	ExportHelmChart ApplicationExportFormat = "HelmChart"
	ExportYAML      ApplicationExportFormat = "YAML"
	ExportKustomize ApplicationExportFormat = "Kustomize"
)

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationExport renders an application as an artifact; nothing is
// stored.
type ApplicationExport struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationExportSpec
	Status ApplicationExportStatus
}

// ApplicationExportSpec says what to export and how.
type ApplicationExportSpec struct {
	Application       string
	Revision          *int64
	Format            ApplicationExportFormat
	Chart             *ExportChart
	Target            *ExportTarget
	IncludeSecretData bool
}

// ExportChart describes the chart of a HelmChart export.
type ExportChart struct {
	Name        string
	Version     string
	Description string
	Readme      string
	Notes       string
	Icon        []byte
}

// ExportTarget is where a chart goes besides the response.
type ExportTarget struct {
	ChartRepo *ChartRepoReference
}

// ChartRepoReference names a chart repository.
type ChartRepoReference struct {
	Namespace string
	Name      string
}

// ApplicationExportStatus carries the artifact.
type ApplicationExportStatus struct {
	Artifact    []byte
	ContentType string
	Files       []string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationExportList is a list of ApplicationExports.
type ApplicationExportList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationExport
}

// ChartRepoLabel names the repository of a Chart.
const ChartRepoLabel = "app.alauda.io/chartrepo"

// ChartNameLabel names the chart of a Chart, as Chart.yaml names it.
const ChartNameLabel = "app.alauda.io/chart"

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Chart is one chart of one repository, named <chart>.<repository>.
type Chart struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Status ChartStatus
}

// ChartStatus lists a chart's versions.
type ChartStatus struct {
	// Versions are the chart's versions, newest first.
	Versions []ChartVersion
}

// ChartVersion is one version of a chart.
type ChartVersion struct {
	Version     string
	AppVersion  string
	Description string
	Digest      string
	Created     *metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartList is a list of Charts.
type ChartList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Chart
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationSnapshot records an application and its components as its
// next ApplicationHistory revision.
type ApplicationSnapshot struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationSnapshotSpec
	Status ApplicationSnapshotStatus
}

// ApplicationSnapshotSpec says which application to record, and why.
type ApplicationSnapshotSpec struct {
	Application string
	ChangeCause string
}

// ApplicationSnapshotStatus is the revision recorded.
type ApplicationSnapshotStatus struct {
	Revision      int64
	History       string
	ResourceDiffs ResourceDiffs
}

// ResourceDiffs are the components created, updated and deleted between
// two revisions of an application.
type ResourceDiffs struct {
	Create []ResourceReference
	Update []ResourceReference
	Delete []ResourceReference
}

// ResourceReference names a component of an application.
type ResourceReference struct {
	Kind string
	Name string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationSnapshotList is a list of ApplicationSnapshots.
type ApplicationSnapshotList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationSnapshot
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStop scales an application's workloads to 0.
type ApplicationStop struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationOperationSpec
	Status ApplicationScaleStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStopList is a list of ApplicationStops.
type ApplicationStopList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationStop
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStart gives a stopped application's workloads their replicas
// back.
type ApplicationStart struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationOperationSpec
	Status ApplicationScaleStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStartList is a list of ApplicationStarts.
type ApplicationStartList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationStart
}

// ApplicationOperationSpec names the application an operation acts on.
type ApplicationOperationSpec struct {
	Application string
	ChangeCause string
}

// ApplicationScaleStatus says what a start or stop scaled.
type ApplicationScaleStatus struct {
	Workloads []WorkloadScale
	Revision  int64
	History   string
}

// WorkloadScale is one workload scaled.
type WorkloadScale struct {
	Kind string
	Name string
	From int32
	To   int32
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRollback brings an application back to a recorded revision.
type ApplicationRollback struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationRollbackSpec
	Status ApplicationRollbackStatus
}

// ApplicationRollbackSpec says which application to roll back, to which
// revision, and why.
type ApplicationRollbackSpec struct {
	Application string
	Revision    int64
	ChangeCause string
}

// ApplicationRollbackStatus is what a rollback did.
type ApplicationRollbackStatus struct {
	Applied  []ResourceReference
	Deleted  []ResourceReference
	Revision int64
	History  string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRollbackList is a list of ApplicationRollbacks.
type ApplicationRollbackList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationRollback
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationImport makes existing resources of an application's
// namespace its components.
type ApplicationImport struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationMembershipSpec
	Status ApplicationMembershipStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationImportList is a list of ApplicationImports.
type ApplicationImportList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationImport
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRemoval dissociates components from their application
// without deleting them.
type ApplicationRemoval struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ApplicationMembershipSpec
	Status ApplicationMembershipStatus
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRemovalList is a list of ApplicationRemovals.
type ApplicationRemovalList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []ApplicationRemoval
}

// ApplicationMembershipSpec names an application and the resources of
// its namespace to import into it or remove from it.
type ApplicationMembershipSpec struct {
	Application string
	Resources   []ComponentReference
	ChangeCause string
}

// ComponentReference names a resource of an application's namespace by
// group, kind and name.
type ComponentReference struct {
	Group string
	Kind  string
	Name  string
}

// ApplicationMembershipStatus is what an import or a removal changed.
type ApplicationMembershipStatus struct {
	Resources []ComponentReference
	Revision  int64
	History   string
}
