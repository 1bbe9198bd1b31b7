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

package authz_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/acp-archon/archon/pkg/authz"
)

// fakeAuthorizer allows alice to get and fails for carol; it records the
// user it was asked about in asked.
func fakeAuthorizer(asked *string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		*asked = a.GetUser().GetName()
		return decide(a)
	})
}

func decide(a authorizer.Attributes) (authorizer.Decision, string, error) {
	switch {
	case a.GetUser().GetName() == "carol":
		return authorizer.DecisionNoOpinion, "", errors.New("webhook timed out")
	case a.GetUser().GetName() == "alice" && a.GetVerb() == "get":
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "no RBAC rule allows it", nil
}

func as(name string) context.Context {
	return genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: name})
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		verb        string
		wantAllowed bool
		wantReason  string
	}{
		{"the request's user is asked about", as("alice"), "get", true, ""},
		{"a refusal carries the authorizer's reason", as("alice"), "delete", false, "no RBAC rule allows it"},
		{"a request without a user is refused", context.Background(), "get", false, "the request has no user"},
		{"an authorizer that cannot decide refuses, and says to retry", as("carol"), "get", false, "try again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			// A user in the attributes is ignored: the request's own is asked about.
			allowed, reason := authz.Allowed(tc.ctx, fakeAuthorizer(&asked), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "bob"}, Verb: tc.verb})
			if allowed != tc.wantAllowed || !strings.Contains(reason, tc.wantReason) {
				t.Fatalf("Allowed = %v, %q; want %v, %q", allowed, reason, tc.wantAllowed, tc.wantReason)
			}
			if asked == "bob" {
				t.Fatal("the authorizer was asked about the attributes' user, not the request's")
			}
		})
	}
}

func TestUserAllowedRefusesNoUser(t *testing.T) {
	var asked string
	if allowed, _ := authz.UserAllowed(context.Background(), fakeAuthorizer(&asked), nil, authorizer.AttributesRecord{Verb: "get"}); allowed {
		t.Fatal("a nil user was allowed")
	}
	if asked != "" {
		t.Fatal("the authorizer was asked about a nil user")
	}
}

func TestRequire(t *testing.T) {
	resource := schema.GroupResource{Group: "app.alauda.io", Resource: "chartrepos"}
	explain := func(reason string) string { return "you need update" + authz.Parenthesized(reason) }
	if err := authz.Require(as("alice"), fakeAuthorizer(new(string)), authorizer.AttributesRecord{Verb: "get"}, resource, "stable", explain); err != nil {
		t.Fatalf("allowed request: %v", err)
	}
	for _, ctx := range []context.Context{as("alice"), context.Background(), as("carol")} {
		err := authz.Require(ctx, fakeAuthorizer(new(string)), authorizer.AttributesRecord{Verb: "delete"}, resource, "stable", explain)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "you need update (") || !strings.Contains(err.Error(), `"stable"`) {
			t.Fatalf("refusal = %v; want 403 naming the repository with the explanation and the reason", err)
		}
	}
}
