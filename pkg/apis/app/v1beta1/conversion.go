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
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/acp-archon/archon/pkg/apis/app"
)

func addFieldLabelConversions(scheme *runtime.Scheme) error {
	supported := []string{"metadata.name", "metadata.namespace", app.ChartRepoTypeField, app.ChartRepoPhaseField}
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("ChartRepo"),
		func(label, value string) (string, string, error) {
			for _, field := range supported {
				if label == field {
					return label, value, nil
				}
			}
			return "", "", fmt.Errorf("field label not supported for chartrepos: %q; select by one of %s", label, strings.Join(supported, ", "))
		})
}
