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

package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// projectFuzzerFuncs keeps the fuzzer to objects the server can hold. The
// generic ObjectMeta and Quantity fuzzers are added by the round-trip test.
func projectFuzzerFuncs(runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(member *auth.ProjectMember, c randfill.Continue) {
			c.FillNoCustom(member)
			// v1 defaults an empty kind to User on decode, so an empty kind
			// cannot come back unchanged; every stored member has a kind.
			if member.Kind == "" {
				member.Kind = auth.MemberKindUser
			}
		},
		func(spec *auth.NamespaceMemberSpec, c randfill.Continue) {
			c.FillNoCustom(spec)
			if spec.Kind == "" {
				spec.Kind = auth.MemberKindUser
			}
		},
	}
}

// TestRoundTripTypes fuzzes every internal type of the group and checks that
// internal -> v1 -> JSON -> v1 -> internal gives back the same object.
func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, projectFuzzerFuncs)
}
