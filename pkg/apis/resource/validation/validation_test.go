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

package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/acp-archon/archon/pkg/apis/resource"
)

func TestRatiosAreAbsentZeroOrAboveOne(t *testing.T) {
	ratio := func(cpu, memory *int64) *resource.NamespaceResourceRatio {
		return &resource.NamespaceResourceRatio{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"},
			Spec: resource.NamespaceResourceRatioSpec{CPU: cpu, Memory: memory}}
	}
	for _, good := range []*resource.NamespaceResourceRatio{ratio(nil, nil), ratio(ptr.To[int64](0), ptr.To[int64](2)), ratio(ptr.To[int64](4), nil)} {
		if errs := ValidateNamespaceResourceRatio(good); len(errs) > 0 {
			t.Errorf("%+v: %v", good.Spec, errs)
		}
	}
	for field, bad := range map[string]*resource.NamespaceResourceRatio{
		"spec.cpu":    ratio(ptr.To[int64](1), nil),
		"spec.memory": ratio(nil, ptr.To[int64](-2)),
	} {
		errs := ValidateNamespaceResourceRatio(bad)
		if len(errs) != 1 || errs[0].Field != field || !strings.Contains(errs[0].Detail, "greater than 1") {
			t.Errorf("%s: %v", field, errs)
		}
	}
}
