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

package visibility

import (
	"context"

	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/storage"

	"github.com/acp-archon/archon/pkg/apis/auth"
	"github.com/acp-archon/archon/pkg/registry/changefeed"
)

// WatchOptions are the parts of a watch request the index honors.
type WatchOptions = changefeed.WatchOptions

// Watch streams the changes of the user's projects that match predicate.
// Membership granted shows as ADDED, membership revoked as DELETED.
func (ix *Index) Watch(ctx context.Context, u user.Info, predicate storage.SelectionPredicate, opts WatchOptions) (watch.Interface, error) {
	if err := ix.waitForSync(ctx); err != nil {
		return nil, err
	}
	subjects := userSubjects(u)
	visible := func(project *auth.Project) bool {
		if project == nil || !isMember(project, subjects) {
			return false
		}
		matches, err := predicate.Matches(project)
		return err == nil && matches
	}
	return ix.feed.Watch(ctx, opts, visible, func() []*auth.Project { return ix.visibleProjects(subjects, visible) })
}
