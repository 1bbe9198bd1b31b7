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

// Package visibility decides which projects a user sees in list and watch:
// the projects they are a member of, directly, through a group or as a
// ServiceAccount. Membership is read from the projects themselves, never
// by one authorization check per project: lists filter the store's
// consistent, cached list, and watches are served from an in-memory index
// from subjects to projects, fed by the store's watch, that turns
// membership changes into ADDED and DELETED events.
package visibility

import (
	"strings"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// subject identifies a member the way the index is keyed; namespace is set
// for ServiceAccounts only.
type subject struct {
	kind            auth.MemberKind
	namespace, name string
}

func memberSubject(member *auth.ProjectMember) subject {
	kind := member.Kind
	if kind == "" {
		kind = auth.MemberKindUser
	}
	return subject{kind: kind, namespace: member.Namespace, name: member.Name}
}

// userSubjects are every subject a request's user matches as a member.
func userSubjects(u user.Info) []subject {
	subjects := []subject{{kind: auth.MemberKindUser, name: u.GetName()}}
	for _, group := range u.GetGroups() {
		subjects = append(subjects, subject{kind: auth.MemberKindGroup, name: group})
	}
	if namespace, name, err := serviceaccount.SplitUsername(u.GetName()); err == nil && strings.HasPrefix(u.GetName(), serviceaccount.ServiceAccountUsernamePrefix) {
		subjects = append(subjects, subject{kind: auth.MemberKindServiceAccount, namespace: namespace, name: name})
	}
	return subjects
}

// MemberFilter returns a test of whether the user is a member of a project,
// directly, through one of their groups or as a ServiceAccount.
func MemberFilter(u user.Info) func(*auth.Project) bool {
	subjects := userSubjects(u)
	return func(project *auth.Project) bool { return isMember(project, subjects) }
}

// isMember reports whether any of subjects is a member of project.
func isMember(project *auth.Project, subjects []subject) bool {
	for i := range project.Spec.Members {
		member := memberSubject(&project.Spec.Members[i])
		for _, s := range subjects {
			if s == member {
				return true
			}
		}
	}
	return false
}
