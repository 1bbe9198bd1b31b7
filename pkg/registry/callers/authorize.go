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

package callers

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
)

// Allowed asks authz whether the request's user may do what attrs
// describe (attrs.User is set from the request). It fails closed: a
// request without a user, and an authorizer that cannot decide, are
// refusals. reason says why when the answer is no; it may be empty.
func Allowed(ctx context.Context, authz authorizer.Authorizer, attrs authorizer.AttributesRecord) (allowed bool, reason string) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return false, ErrNoUser.Error()
	}
	return UserAllowed(ctx, authz, u, attrs)
}

// UserAllowed is Allowed for a user who is not the request's own, such as
// the author of a request kube-apiserver sends for admission.
func UserAllowed(ctx context.Context, authz authorizer.Authorizer, u user.Info, attrs authorizer.AttributesRecord) (allowed bool, reason string) {
	if u == nil {
		return false, ErrNoUser.Error()
	}
	attrs.User = u
	decision, reason, err := authz.Authorize(ctx, attrs)
	if err != nil {
		klog.ErrorS(err, "Authorizing a request failed; refusing it", "user", u.GetName(), "verb", attrs.Verb, "resource", attrs.Resource, "name", attrs.Name)
		return false, fmt.Sprintf("the authorizer could not decide (%v); try again", err)
	}
	return decision == authorizer.DecisionAllow, reason
}
