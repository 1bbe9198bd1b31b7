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

package v1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/acp-archon/archon/pkg/apis/auth/install"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

// newScheme installs the group the way the server does, so the tests see the
// defaulters and conversions registered by install.Install and nothing else.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return scheme
}

func TestMemberKindDefault(t *testing.T) {
	tests := []struct {
		name string
		kind authv1.MemberKind
		want authv1.MemberKind
	}{
		{name: "no kind becomes User", kind: "", want: authv1.MemberKindUser},
		{name: "User kept", kind: authv1.MemberKindUser, want: authv1.MemberKindUser},
		{name: "Group kept", kind: authv1.MemberKindGroup, want: authv1.MemberKindGroup},
		{name: "ServiceAccount kept", kind: authv1.MemberKindServiceAccount, want: authv1.MemberKindServiceAccount},
		// Defaulting fills gaps only; rejecting a wrong kind is validation's job.
		{name: "unknown kind kept", kind: "Robot", want: "Robot"},
	}
	scheme := newScheme()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			project := &authv1.Project{Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
				{Kind: tc.kind, Name: "alice", Role: authv1.ProjectRoleAdmin},
			}}}
			scheme.Default(project)
			if got := project.Spec.Members[0].Kind; got != tc.want {
				t.Errorf("kind = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultsReachEveryMember(t *testing.T) {
	list := &authv1.ProjectList{Items: []authv1.Project{
		{Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
			{Kind: authv1.MemberKindGroup, Name: "auditors", Role: authv1.ProjectRoleAuditor},
			{Name: "alice", Role: authv1.ProjectRoleAdmin},
		}}},
		{Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{
			{Name: "bob", Role: authv1.ProjectRoleAdmin},
		}}},
	}}
	newScheme().Default(list)

	want := [][]authv1.MemberKind{
		{authv1.MemberKindGroup, authv1.MemberKindUser},
		{authv1.MemberKindUser},
	}
	for i, project := range list.Items {
		for j, member := range project.Spec.Members {
			if member.Kind != want[i][j] {
				t.Errorf("items[%d].spec.members[%d].kind = %q, want %q", i, j, member.Kind, want[i][j])
			}
		}
	}
}

// A client that leaves the kind out of its JSON gets a User: the decoder the
// server uses applies the defaults.
func TestDecodedMemberWithoutKindIsUser(t *testing.T) {
	data := []byte(`{
		"apiVersion": "auth.alauda.io/v1",
		"kind": "Project",
		"metadata": {"name": "payments"},
		"spec": {"members": [{"name": "alice", "role": "project-admin"}]}
	}`)
	codecs := serializer.NewCodecFactory(newScheme())
	obj, err := runtime.Decode(codecs.UniversalDecoder(authv1.SchemeGroupVersion), data)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	project, ok := obj.(*authv1.Project)
	if !ok {
		t.Fatalf("decoded a %T, want *v1.Project", obj)
	}
	if got := project.Spec.Members[0].Kind; got != authv1.MemberKindUser {
		t.Errorf("kind = %q, want %q", got, authv1.MemberKindUser)
	}
}
