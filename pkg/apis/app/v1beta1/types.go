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

const (
	ChartRepoTypeChart ChartRepoType = "Chart"
	ChartRepoTypeOCI   ChartRepoType = "OCI"
	ChartRepoTypeLocal ChartRepoType = "Local"
)

// ChartRepoPhase is where a repository's synchronisation stands: Pending,
// Synced or Failed.
// +enum
type ChartRepoPhase string

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
	// Status is the outcome of the latest synchronisation.
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

// ChartRepoStatus is the outcome of a repository's latest synchronisation.
type ChartRepoStatus struct {
	// Phase is Pending until the first synchronisation, then Synced or Failed.
	// +optional
	Phase ChartRepoPhase `json:"phase,omitempty"`
	// Reason says why the latest synchronisation failed.
	// +optional
	Reason string `json:"reason,omitempty"`
	// LastSyncTime is when the repository last synchronised successfully.
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
