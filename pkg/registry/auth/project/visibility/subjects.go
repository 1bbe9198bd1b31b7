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
// ServiceAccount. It keeps an in-memory index from subjects to projects fed
// by the project store's watch, so a list costs one map lookup per subject
// rather than one authorisation check per project.
package visibility

import (
	"strings"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// subject identifies a member the way the index is keyed: kind, then name
// (namespace/name for ServiceAccounts).
type subject string

func memberSubject(member auth.ProjectMember) subject {
	switch member.Kind {
	case auth.MemberKindServiceAccount:
		return subject("ServiceAccount:" + member.Namespace + "/" + member.Name)
	case auth.MemberKindGroup:
		return subject("Group:" + member.Name)
	default:
		return subject("User:" + member.Name)
	}
}

// userSubjects are every subject a request's user matches as a member.
func userSubjects(u user.Info) []subject {
	subjects := []subject{subject("User:" + u.GetName())}
	for _, group := range u.GetGroups() {
		subjects = append(subjects, subject("Group:"+group))
	}
	if namespace, name, err := serviceaccount.SplitUsername(u.GetName()); err == nil && strings.HasPrefix(u.GetName(), serviceaccount.ServiceAccountUsernamePrefix) {
		subjects = append(subjects, subject("ServiceAccount:"+namespace+"/"+name))
	}
	return subjects
}

// isMember reports whether any of subjects is a member of project.
func isMember(project *auth.Project, subjects []subject) bool {
	for _, member := range project.Spec.Members {
		key := memberSubject(member)
		for _, s := range subjects {
			if s == key {
				return true
			}
		}
	}
	return false
}
