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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:onlyVerbs=get,list,watch,delete
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Image is one repository of the platform's container registry,
// <registry>/<namespace>/<repository>, read from the registry. Its name is
// the repository path below the namespace with every "/" written as "~"
// (repository names never contain "~"): <registry>/ns/team/app is the
// Image "team~app" in namespace "ns".
type Image struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Status is read from the registry; an Image has no spec.
	// +optional
	Status ImageStatus `json:"status,omitempty"`
}

// ImageStatus is what the registry holds for the repository.
type ImageStatus struct {
	// Repository is the repository's full path in the registry,
	// <namespace>/<repository>.
	Repository string `json:"repository"`
	// Tags are the repository's tags, by name.
	// +listType=map
	// +listMapKey=name
	// +optional
	Tags []ImageTag `json:"tags,omitempty"`
}

// ImageTag is one tag of the repository and the manifest it points at.
type ImageTag struct {
	// Name is the tag.
	Name string `json:"name"`
	// Digest is the digest of the manifest the tag points at.
	Digest string `json:"digest"`
	// MediaType is the manifest's media type (an image manifest or an index).
	MediaType string `json:"mediaType"`
	// Size is the manifest's size plus the sizes of the config and layers
	// it references (of every platform, for an index), in bytes.
	Size int64 `json:"size"`
	// Created is when the image was built, from its config; unset when the
	// config does not say.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
	// Platforms are the os/architecture[/variant] pairs the tag serves.
	// +listType=atomic
	// +optional
	Platforms []string `json:"platforms,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ImageList is a list of Images.
type ImageList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Image `json:"items"`
}
