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

package image

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +genclient
// +genclient:onlyVerbs=get,list,watch,delete
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Image is one repository of the container registry, read from the
// registry: <registry>/<namespace>/<repository>.
type Image struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Status ImageStatus
}

// ImageStatus is what the registry holds for the repository.
type ImageStatus struct {
	// Repository is the repository's path in the registry.
	Repository string
	Tags       []ImageTag
}

// ImageTag is one tag of the repository and the manifest it points at.
type ImageTag struct {
	Name      string
	Digest    string
	MediaType string
	// Size is the manifest's size plus the sizes of the blobs it references.
	Size      int64
	Created   *metav1.Time
	Platforms []string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ImageList is a list of Images.
type ImageList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Image
}
