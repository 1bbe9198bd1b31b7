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

// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/acp-archon/archon/pkg/apis/resource
// +k8s:defaulter-gen=TypeMeta
// +k8s:openapi-gen=true
// The OpenAPI model package is the reversed Go import path because
// applyconfiguration-gen looks models up by that name.
// +k8s:openapi-model-package=com.github.acp-archon.archon.pkg.apis.resource.v1
// +groupName=resource.alauda.io

// Package v1 is the v1 version of resource.alauda.io: the policies on
// the resources of namespaces' pods.
package v1
