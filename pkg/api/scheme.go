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

// Package api holds the scheme and codecs of every type archon serves. It is
// a leaf: storage, tests and the server assembly all import it, and it
// imports none of them.
package api

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	genericapiserver "k8s.io/apiserver/pkg/server"

	appinstall "github.com/acp-archon/archon/pkg/apis/app/install"
	authinstall "github.com/acp-archon/archon/pkg/apis/auth/install"
	imageinstall "github.com/acp-archon/archon/pkg/apis/image/install"
	resourceinstall "github.com/acp-archon/archon/pkg/apis/resource/install"
)

var (
	// Scheme knows every type archon serves, internal and versioned.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes those types.
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	authinstall.Install(Scheme)
	appinstall.Install(Scheme)
	imageinstall.Install(Scheme)
	resourceinstall.Install(Scheme)

	// Options types (ListOptions, GetOptions, ...) and the unversioned
	// responses of discovery live in the unnamed v1 group.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	Scheme.AddUnversionedTypes(schema.GroupVersion{Group: "", Version: "v1"},
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}

// NewAPIGroupInfo returns the start of the description of one of archon's
// API groups, served in JSON and YAML.
func NewAPIGroupInfo(group string) genericapiserver.APIGroupInfo {
	info := genericapiserver.NewDefaultAPIGroupInfo(group, Scheme, metav1.ParameterCodec, Codecs)
	info.NegotiatedSerializer = withoutProtobuf{Codecs}
	return info
}

// withoutProtobuf offers JSON and YAML but not protobuf: archon's types
// have no protobuf encoding, and a client accepting both protobuf and JSON
// (kube-controller-manager emptying a namespace, for one) must be answered
// in JSON rather than with an encoding error.
type withoutProtobuf struct {
	runtime.NegotiatedSerializer
}

func (s withoutProtobuf) SupportedMediaTypes() []runtime.SerializerInfo {
	var supported []runtime.SerializerInfo
	for _, info := range s.NegotiatedSerializer.SupportedMediaTypes() {
		if info.MediaType != runtime.ContentTypeProtobuf {
			supported = append(supported, info)
		}
	}
	return supported
}
