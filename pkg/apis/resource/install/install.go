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

// Package install registers the resource.alauda.io group in a scheme.
package install

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	resourceapi "github.com/acp-archon/archon/pkg/apis/resource"
	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
)

// Install registers the internal and v1 types of resource.alauda.io.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(resourceapi.AddToScheme(scheme))
	utilruntime.Must(resourcev1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(resourcev1.SchemeGroupVersion))
}
