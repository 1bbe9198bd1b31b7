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

// Package authz is how archon asks whether a caller may do something: one
// answer for a request without a user (a refusal, 403) and one for an
// authorizer that cannot decide (a refusal the caller may retry), wherever
// the question is asked — storage, the webhooks, the token realm, helm's
// reads.
package authz

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
)

// ErrNoUser is a request that carries no user: it is refused, never
// treated as anonymous.
var ErrNoUser = errors.New("the request has no user")

// Allowed asks a whether the request's user may do what attrs describe
// (attrs.User is set from the request). It fails closed: a request without
// a user, and an authorizer that cannot decide, are refusals. reason says
// why when the answer is no; it may be empty.
func Allowed(ctx context.Context, a authorizer.Authorizer, attrs authorizer.AttributesRecord) (allowed bool, reason string) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return false, ErrNoUser.Error()
	}
	return UserAllowed(ctx, a, u, attrs)
}

// UserAllowed is Allowed for a user who is not the request's own, such as
// the author of a request kube-apiserver sends for admission, or a caller
// authenticated outside the server's filters.
func UserAllowed(ctx context.Context, a authorizer.Authorizer, u user.Info, attrs authorizer.AttributesRecord) (allowed bool, reason string) {
	if u == nil {
		return false, ErrNoUser.Error()
	}
	attrs.User = u
	decision, reason, err := a.Authorize(ctx, attrs)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Authorizing a request failed; refusing it",
			"user", u.GetName(), "verb", attrs.Verb, "resource", attrs.Resource, "subresource", attrs.Subresource,
			"namespace", attrs.Namespace, "name", attrs.Name)
		return false, fmt.Sprintf("the authorizer could not decide (%v); try again", err)
	}
	return decision == authorizer.DecisionAllow, reason
}

// Require returns nil when the request's user may do what attrs describe,
// and otherwise a Forbidden error about name of resource whose message is
// explain(reason): explain turns the authorizer's reason (possibly empty)
// into what the caller needs and lacks.
func Require(ctx context.Context, a authorizer.Authorizer, attrs authorizer.AttributesRecord,
	resource schema.GroupResource, name string, explain func(reason string) string) error {
	allowed, reason := Allowed(ctx, a, attrs)
	if allowed {
		return nil
	}
	return apierrors.NewForbidden(resource, name, errors.New(explain(reason)))
}

// Parenthesized returns reason in parentheses after a space, or nothing
// when it is empty, for messages that add the authorizer's reason.
func Parenthesized(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}
