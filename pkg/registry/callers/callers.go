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

// Package callers gives storage a client that acts as the caller of the
// request, so that kube-apiserver's RBAC judges what the caller reaches
// through archon exactly as it would judge the caller directly.
package callers

import (
	"context"

	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/authz"
)

// callerQPS and callerBurst are the client-side rate of one request's
// client.
const (
	callerQPS   = 200
	callerBurst = 400
)

// Config returns base impersonating the request's user.
func Config(ctx context.Context, base *restclient.Config) (*restclient.Config, error) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return nil, authz.ErrNoUser
	}
	config := restclient.CopyConfig(base)
	// Extras are left out: they describe the credential (such as its id)
	// rather than grant anything, and impersonating them needs a permission
	// per key.
	config.Impersonate = restclient.ImpersonationConfig{UserName: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	// Each request builds its own client, so client-go's limiter (5 a
	// second by default) would only slow one request's own reads and
	// writes: a rollback of 50 components took 19 s. The caller's request
	// is bounded by what it may name (a revision holds 1 MiB at most) and
	// by kube-apiserver's fairness.
	config.QPS, config.Burst = callerQPS, callerBurst
	return config, nil
}
