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

package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CatalogLabel marks the chart repositories of the platform's catalog.
const CatalogLabel = "project.cpaas.io/catalog"

// ChartRepoType says where a repository's charts come from: Chart (a helm
// repository over HTTP(S)), OCI (charts as OCI artifacts under a registry
// path) or Local (hosted by archon).
// +enum
type ChartRepoType string

// The kinds of chart repository.
const (
	ChartRepoTypeChart ChartRepoType = "Chart"
	ChartRepoTypeOCI   ChartRepoType = "OCI"
	ChartRepoTypeLocal ChartRepoType = "Local"
)

// ChartRepoPhase is where a repository's synchronization stands: Pending,
// Synced or Failed.
// +enum
type ChartRepoPhase string

// The phases of a repository's synchronization.
const (
	ChartRepoPending ChartRepoPhase = "Pending"
	ChartRepoSynced  ChartRepoPhase = "Synced"
	ChartRepoFailed  ChartRepoPhase = "Failed"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartRepo is a repository of Helm charts. Platform repositories live in
// the cpaas-system namespace.
type ChartRepo struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the charts are.
	Spec ChartRepoSpec `json:"spec"`
	// Status is the outcome of the latest synchronization.
	// +optional
	Status ChartRepoStatus `json:"status,omitempty"`
}

// ChartRepoSpec says where a repository's charts are.
type ChartRepoSpec struct {
	// Type is Chart, OCI or Local.
	Type ChartRepoType `json:"type"`
	// URL is the repository's address: http(s)://... for Chart,
	// oci://<registry>/<path> for OCI; empty for Local, which archon serves
	// at /chartrepos/<namespace>/<name>/. It cannot change.
	// +optional
	URL string `json:"url,omitempty"`
	// Secret holds the credentials of the repository: username and password
	// for basic authentication, or ca.crt, tls.crt and tls.key.
	// +optional
	Secret *SecretReference `json:"secret,omitempty"`
}

// SecretReference names a secret.
type SecretReference struct {
	// Name of the secret.
	Name string `json:"name"`
	// Namespace of the secret; the repository's when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// ChartRepoStatus is the outcome of a repository's latest synchronization.
type ChartRepoStatus struct {
	// Phase is Pending until the first synchronization, then Synced or Failed.
	// +optional
	Phase ChartRepoPhase `json:"phase,omitempty"`
	// Reason says why the latest synchronization failed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// LastSyncTime is when the repository last synchronized successfully.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// Charts is the number of charts the repository holds.
	// +optional
	Charts int32 `json:"charts,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartRepoList is a list of ChartRepos.
type ChartRepoList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ChartRepo `json:"items"`
}

// ApplicationExportFormat is the form of an exported application: HelmChart,
// YAML or Kustomize.
// +enum
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

// ApplicationExport renders an application (app.k8s.io/v1beta1) of its
// namespace as an artifact, returned in the status of the create response.
// Nothing is stored.
type ApplicationExport struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says what to export and how.
	Spec ApplicationExportSpec `json:"spec"`
	// Status carries the artifact.
	// +optional
	Status ApplicationExportStatus `json:"status,omitempty"`
}

// ApplicationExportSpec says what to export and how.
type ApplicationExportSpec struct {
	// Application is the name of the Application to export, in the same
	// namespace.
	Application string `json:"application"`
	// Revision exports the ApplicationHistory of that revision instead of
	// the live objects.
	// +optional
	Revision *int64 `json:"revision,omitempty"`
	// Format is HelmChart, YAML or Kustomize.
	Format ApplicationExportFormat `json:"format"`
	// Chart describes the chart of a HelmChart export.
	// +optional
	Chart *ExportChart `json:"chart,omitempty"`
	// Target is where a chart goes besides the response.
	// +optional
	Target *ExportTarget `json:"target,omitempty"`
	// IncludeSecretData keeps the data of the application's Secrets in the
	// export. Without it their values are left out: a chart takes them as
	// values (secrets.<secret>.<key>), YAML and Kustomize carry empty
	// values. An export with Secret data cannot go to a repository, whose
	// readers could not read the Secrets.
	// +optional
	IncludeSecretData bool `json:"includeSecretData,omitempty"`
}

// ExportChart describes the chart of a HelmChart export.
type ExportChart struct {
	// Name of the chart; the application's by default.
	// +optional
	Name string `json:"name,omitempty"`
	// Version of the chart, v<major>.<minor>.<patch>.
	// +optional
	Version string `json:"version,omitempty"`
	// Description of the chart; the application's by default.
	// +optional
	Description string `json:"description,omitempty"`
	// Readme is the chart's README.md.
	// +optional
	Readme string `json:"readme,omitempty"`
	// Notes is the chart's templates/NOTES.txt.
	// +optional
	Notes string `json:"notes,omitempty"`
	// Icon is a JPG, PNG or GIF of at most 500 KB.
	// +optional
	Icon []byte `json:"icon,omitempty"`
}

// ExportTarget is where a chart goes besides the response.
type ExportTarget struct {
	// ChartRepo is a Local repository the caller may manage.
	// +optional
	ChartRepo *ChartRepoReference `json:"chartRepo,omitempty"`
}

// ChartRepoReference names a chart repository.
type ChartRepoReference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// ApplicationExportStatus carries the artifact.
type ApplicationExportStatus struct {
	// Artifact is the exported application: a YAML stream for YAML, a
	// gzipped tarball for Kustomize and HelmChart.
	// +optional
	Artifact []byte `json:"artifact,omitempty"`
	// ContentType is the artifact's media type.
	// +optional
	ContentType string `json:"contentType,omitempty"`
	// Files are the paths inside the artifact.
	// +listType=atomic
	// +optional
	Files []string `json:"files,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationExportList is a list of ApplicationExports.
type ApplicationExportList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationExport `json:"items"`
}

// ChartRepoLabel names the repository of a Chart.
const ChartRepoLabel = "app.alauda.io/chartrepo"

// ChartNameLabel names the chart of a Chart, as Chart.yaml names it.
const ChartNameLabel = "app.alauda.io/chart"

// +genclient
// +genclient:onlyVerbs=get,list,watch
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Chart is one chart of one repository, named <chart>.<repository>, read
// from the repository's index. Charts are read-only: upload to a Local
// repository's charts subresource to add one.
type Chart struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Status lists the chart's versions.
	// +optional
	Status ChartStatus `json:"status,omitempty"`
}

// ChartStatus lists a chart's versions.
type ChartStatus struct {
	// Versions are the chart's versions, newest first.
	// +listType=atomic
	// +optional
	Versions []ChartVersion `json:"versions,omitempty"`
}

// ChartVersion is one version of a chart.
type ChartVersion struct {
	// Version is the chart's semantic version.
	Version string `json:"version"`
	// AppVersion is the version of the application the chart installs.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// Description is what Chart.yaml says the chart is.
	// +optional
	Description string `json:"description,omitempty"`
	// Digest is the SHA-256 of the chart's package (of its manifest for
	// OCI repositories).
	// +optional
	Digest string `json:"digest,omitempty"`
	// Created is when the version was added to its repository.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ChartList is a list of Charts.
type ChartList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Chart `json:"items"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationSnapshot records an application (app.k8s.io/v1beta1) of its
// namespace and its components, as the caller reads them, as the
// application's next ApplicationHistory revision; the create response
// says which. Only the newest 6 revisions are kept.
type ApplicationSnapshot struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, and why.
	Spec ApplicationSnapshotSpec `json:"spec"`
	// Status is the revision recorded.
	// +optional
	Status ApplicationSnapshotStatus `json:"status,omitempty"`
}

// ApplicationSnapshotSpec says which application to record, and why.
type ApplicationSnapshotSpec struct {
	// Application is the name of the Application, in the same namespace.
	Application string `json:"application"`
	// ChangeCause says why the application changed; the revision's
	// changeCause.
	// +optional
	ChangeCause string `json:"changeCause,omitempty"`
}

// ApplicationSnapshotStatus is the revision recorded.
type ApplicationSnapshotStatus struct {
	// Revision is the number of the revision.
	Revision int64 `json:"revision"`
	// History is the name of the ApplicationHistory holding it.
	History string `json:"history"`
	// ResourceDiffs are the components created, updated and deleted since
	// the revision before.
	// +optional
	ResourceDiffs ResourceDiffs `json:"resourceDiffs"`
}

// ResourceDiffs are the components created, updated and deleted between
// two revisions of an application.
type ResourceDiffs struct {
	// +listType=atomic
	// +optional
	Create []ResourceReference `json:"create,omitempty"`
	// +listType=atomic
	// +optional
	Update []ResourceReference `json:"update,omitempty"`
	// +listType=atomic
	// +optional
	Delete []ResourceReference `json:"delete,omitempty"`
}

// ResourceReference names a component of an application.
type ResourceReference struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationSnapshotList is a list of ApplicationSnapshots.
type ApplicationSnapshotList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationSnapshot `json:"items"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStop stops an application (app.k8s.io/v1beta1) of its
// namespace: every Deployment and StatefulSet among its components is
// scaled to 0 through the scale subresource, as the caller, and the
// replicas they had are remembered in the application for
// ApplicationStart. The result is recorded as a revision.
type ApplicationStop struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, and why.
	Spec ApplicationOperationSpec `json:"spec"`
	// Status is what was scaled.
	// +optional
	Status ApplicationScaleStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStopList is a list of ApplicationStops.
type ApplicationStopList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationStop `json:"items"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStart starts a stopped application: its Deployments and
// StatefulSets get back the replicas they had when it was stopped (one
// for a workload at 0 that it does not remember), as the caller. The
// result is recorded as a revision.
type ApplicationStart struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, and why.
	Spec ApplicationOperationSpec `json:"spec"`
	// Status is what was scaled.
	// +optional
	Status ApplicationScaleStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationStartList is a list of ApplicationStarts.
type ApplicationStartList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationStart `json:"items"`
}

// ApplicationOperationSpec names the application an operation acts on.
type ApplicationOperationSpec struct {
	// Application is the name of the Application, in the same namespace.
	Application string `json:"application"`
	// ChangeCause says why; the changeCause of the revision recorded.
	// +optional
	ChangeCause string `json:"changeCause,omitempty"`
}

// ApplicationScaleStatus says what a start or stop scaled.
type ApplicationScaleStatus struct {
	// Workloads are the Deployments and StatefulSets scaled.
	// +listType=atomic
	// +optional
	Workloads []WorkloadScale `json:"workloads,omitempty"`
	// Revision is the revision recorded after; none in a dry run.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// History is the name of the ApplicationHistory holding it.
	// +optional
	History string `json:"history,omitempty"`
}

// WorkloadScale is one workload scaled.
type WorkloadScale struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// From is the replicas before, To after.
	From int32 `json:"from"`
	To   int32 `json:"to"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRollback brings an application (app.k8s.io/v1beta1) and its
// components back to a recorded revision, as the caller: the revision's
// objects are applied (server-side apply) and the components created
// since are deleted. Every write is first tried as a dry run, so a
// refusal changes nothing. The result is recorded as a new revision.
type ApplicationRollback struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, to which revision, and why.
	Spec ApplicationRollbackSpec `json:"spec"`
	// Status is what the rollback did.
	// +optional
	Status ApplicationRollbackStatus `json:"status,omitempty"`
}

// ApplicationRollbackSpec says which application to roll back, to which
// revision, and why.
type ApplicationRollbackSpec struct {
	// Application is the name of the Application, in the same namespace.
	Application string `json:"application"`
	// Revision is the recorded revision to go back to.
	Revision int64 `json:"revision"`
	// ChangeCause says why; "rollback to revision <N>" by default.
	// +optional
	ChangeCause string `json:"changeCause,omitempty"`
}

// ApplicationRollbackStatus is what a rollback did.
type ApplicationRollbackStatus struct {
	// Applied are the objects of the revision applied.
	// +listType=atomic
	// +optional
	Applied []ResourceReference `json:"applied,omitempty"`
	// Deleted are the components created since the revision.
	// +listType=atomic
	// +optional
	Deleted []ResourceReference `json:"deleted,omitempty"`
	// Revision is the new revision recorded; none in a dry run.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// History is the name of the ApplicationHistory holding it.
	// +optional
	History string `json:"history,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRollbackList is a list of ApplicationRollbacks.
type ApplicationRollbackList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationRollback `json:"items"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationImport makes existing resources of an application's
// namespace its components, as the caller: each is labeled with the
// application's selector (spec.selector.matchLabels), its kind is added
// to spec.componentKinds, and with spec.addOwnerRef the application
// becomes its owner, so deleting the application deletes it. A resource
// belongs to at most one application. Importing a component again makes
// its owner reference agree with spec.addOwnerRef. The result is
// recorded as a new revision.
type ApplicationImport struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, which resources, and why.
	Spec ApplicationMembershipSpec `json:"spec"`
	// Status is what the import changed.
	// +optional
	Status ApplicationMembershipStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationImportList is a list of ApplicationImports.
type ApplicationImportList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationImport `json:"items"`
}

// +genclient
// +genclient:onlyVerbs=create
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRemoval dissociates components from their application
// without deleting them, as the caller: the labels of the application's
// selector and its owner reference come off, so the resources survive
// the application's deletion. What the resources do is unchanged: a
// Service removed still routes to its Pods. The result is recorded as a
// new revision.
type ApplicationRemoval struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which application, which components, and why.
	Spec ApplicationMembershipSpec `json:"spec"`
	// Status is what the removal changed.
	// +optional
	Status ApplicationMembershipStatus `json:"status,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ApplicationRemovalList is a list of ApplicationRemovals.
type ApplicationRemovalList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ApplicationRemoval `json:"items"`
}

// ApplicationMembershipSpec names an application and the resources of
// its namespace to import into it or remove from it.
type ApplicationMembershipSpec struct {
	// Application is the name of the Application, in the same namespace.
	Application string `json:"application"`
	// Resources are the resources to import or remove (at most 100). An
	// import without any imports the application's current components
	// again, which makes their owner references agree with
	// spec.addOwnerRef.
	// +listType=atomic
	// +optional
	Resources []ComponentReference `json:"resources,omitempty"`
	// ChangeCause says why; the changeCause of the revision recorded.
	// +optional
	ChangeCause string `json:"changeCause,omitempty"`
}

// ComponentReference names a resource of an application's namespace by
// group, kind and name.
type ComponentReference struct {
	// Group is the API group; empty or "core" for the core group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind is the kind, such as Deployment or Service.
	Kind string `json:"kind"`
	// Name is the name of the resource.
	Name string `json:"name"`
}

// ApplicationMembershipStatus is what an import or a removal changed.
type ApplicationMembershipStatus struct {
	// Resources are the resources imported or removed.
	// +listType=atomic
	// +optional
	Resources []ComponentReference `json:"resources,omitempty"`
	// Revision is the revision recorded after; none in a dry run.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// History is the name of the ApplicationHistory holding it.
	// +optional
	History string `json:"history,omitempty"`
}
