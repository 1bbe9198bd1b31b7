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

package project

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/registry/auth/project/visibility"
	"github.com/acp-archon/archon/pkg/registry/statusrest"
)

// REST serves projects. Lists and watches of callers who may not get every
// project are answered from the visibility index: their own projects only.
type REST struct {
	*genericregistry.Store
	visibility *visibility.Index
	authorizer authorizer.Authorizer
	namespaces NamespaceFinder
}

// NamespaceFinder names the namespaces that belong to a project.
type NamespaceFinder func(ctx context.Context, project string) ([]string, error)

var _ rest.ShortNamesProvider = &REST{}

// ShortNames lets users type "kubectl get proj".
func (*REST) ShortNames() []string { return []string{"proj"} }

// StatusREST serves projects/status.
type StatusREST = statusrest.REST

// NewStorage returns the storage of projects and of their status
// subresource for the cluster archon serves. authz decides who sees every project; nil lets everyone.
// namespaces finds a project's namespaces, which block its deletion; nil
// when archon runs without a cluster.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, cluster string, authz authorizer.Authorizer, namespaces NamespaceFinder) (*REST, *StatusREST, error) {
	// With a cluster, the controllers run and remove the finalizer.
	s := newStrategy(scheme, cluster, namespaces != nil)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &auth.Project{} },
		NewListFunc:               func() runtime.Object { return &auth.ProjectList{} },
		PredicateFunc:             matchProject,
		DefaultQualifiedResource:  auth.Resource("projects"),
		SingularQualifiedResource: auth.Resource("project"),

		CreateStrategy:      s,
		UpdateStrategy:      s,
		DeleteStrategy:      s,
		ResetFieldsStrategy: s,

		TableConvertor: tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, nil, err
	}

	return &REST{Store: store, visibility: visibility.NewIndex(), authorizer: authz, namespaces: namespaces},
		statusrest.New(store, statusStrategy{s}), nil
}

// Delete refuses to delete a project that still owns namespaces: deleting
// it would orphan them and the quota they draw.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	if err := r.refuseIfOwningNamespaces(ctx, name); err != nil {
		return nil, false, err
	}
	return r.Store.Delete(ctx, name, deleteValidation, options)
}

// DeleteCollection applies Delete's rule to every project it would delete.
func (r *REST) DeleteCollection(ctx context.Context, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions, listOptions *metainternalversion.ListOptions) (runtime.Object, error) {
	listed, err := r.Store.List(ctx, listOptions)
	if err != nil {
		return nil, err
	}
	for _, project := range listed.(*auth.ProjectList).Items {
		if err := r.refuseIfOwningNamespaces(ctx, project.Name); err != nil {
			return nil, err
		}
	}
	return r.Store.DeleteCollection(ctx, deleteValidation, options, listOptions)
}

func (r *REST) refuseIfOwningNamespaces(ctx context.Context, name string) error {
	if r.namespaces == nil {
		return nil
	}
	owned, err := r.namespaces(ctx, name)
	if err != nil {
		return err
	}
	if len(owned) > 0 {
		return apierrors.NewConflict(auth.Resource("projects"), name, fmt.Errorf(
			"the project still owns namespaces %s: release them (kubectl label namespace NAME %s-) or delete them first",
			strings.Join(owned, ", "), authv1.NamespaceProjectLabel))
	}
	return nil
}

// RunVisibilityIndex keeps the index of project members current until ctx
// is done; lists and watches of members wait for its first sync.
func (r *REST) RunVisibilityIndex(ctx context.Context) {
	r.visibility.Run(ctx, r.Store)
}

// List returns every project to those who may get any project, and their
// own projects to everyone else. A member's list is never paginated: a
// page's continue token names where the store stopped, which may be
// another tenant's project, so limit is ignored (as the API allows) and
// the whole list, as long as the caller's memberships, comes in one
// response without a continue token.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	u, restricted := r.restrictedUser(ctx)
	if !restricted {
		return r.Store.List(ctx, options)
	}
	unpaged := &metainternalversion.ListOptions{}
	if options != nil {
		if options.Continue != "" {
			return nil, apierrors.NewBadRequest("continue tokens are not issued for lists of your own projects: list again without continue")
		}
		unpaged = options.DeepCopy()
		unpaged.Limit = 0
	}
	listed, err := r.Store.List(ctx, unpaged)
	if err != nil {
		return nil, err
	}
	// The store's list is consistent and served from its cache; keeping
	// the caller's projects costs a look at each one's members.
	list := listed.(*auth.ProjectList)
	isMember := visibility.MemberFilter(u)
	kept := list.Items[:0]
	for i := range list.Items {
		if isMember(&list.Items[i]) {
			kept = append(kept, list.Items[i])
		}
	}
	list.Items = kept
	list.Continue = ""
	list.RemainingItemCount = nil
	return list, nil
}

// Watch is List's counterpart: members see ADDED when they join a project
// and DELETED when they leave it.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	u, restricted := r.restrictedUser(ctx)
	if !restricted {
		return r.Store.Watch(ctx, options)
	}
	return r.visibility.Watch(ctx, u, r.predicate(options), visibility.WatchOptions{
		ResourceVersion:   options.ResourceVersion,
		SendInitialEvents: options.SendInitialEvents != nil && *options.SendInitialEvents,
		Bookmarks:         options.AllowWatchBookmarks,
	})
}

// Update refuses changes of spec.members from callers without the
// manage-members permission on the project, and changes of spec.clusters
// (the project's clusters and quota) from callers without manage-clusters;
// updates, patches and applies all come through here.
func (r *REST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	checkSpec := func(ctx context.Context, obj, old runtime.Object) error {
		if err := r.authorizeSpecChange(ctx, obj.(*auth.Project), old.(*auth.Project)); err != nil {
			return err
		}
		if updateValidation == nil {
			return nil
		}
		return updateValidation(ctx, obj, old)
	}
	return r.Store.Update(ctx, name, objInfo, createValidation, checkSpec, forceAllowCreate, options)
}

// authorizeSpecChange asks for the custom verb that guards each part of
// the project the update changes: update alone covers labels and
// annotations.
func (r *REST) authorizeSpecChange(ctx context.Context, project, old *auth.Project) error {
	if r.authorizer == nil {
		return nil
	}
	for _, guarded := range []struct {
		field   string
		verb    string
		changed bool
	}{
		{"spec.members", authv1.ManageMembersVerb, !apiequality.Semantic.DeepEqual(project.Spec.Members, old.Spec.Members)},
		{"spec.clusters", authv1.ManageClustersVerb, !apiequality.Semantic.DeepEqual(project.Spec.Clusters, old.Spec.Clusters)},
		// Without it the project's RBAC may outlive it (archon's
		// controller, which removes it, is a platform admin).
		{"the finalizer " + authv1.ProjectRBACFinalizer, authv1.ManageClustersVerb,
			slices.Contains(old.Finalizers, authv1.ProjectRBACFinalizer) && !slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer)},
	} {
		if !guarded.changed {
			continue
		}
		allowed, reason := authz.Allowed(ctx, r.authorizer, authorizer.AttributesRecord{
			Verb:            guarded.verb,
			APIGroup:        auth.GroupName,
			APIVersion:      authv1.SchemeGroupVersion.Version,
			Resource:        "projects",
			Name:            project.Name,
			ResourceRequest: true,
		})
		if !allowed {
			return apierrors.NewForbidden(auth.Resource("projects"), project.Name,
				fmt.Errorf("changing %s needs the %q permission on the project%s", guarded.field, guarded.verb, authz.Parenthesized(reason)))
		}
	}
	return nil
}

// restrictedUser returns the caller when they may not get projects
// cluster-wide, the permission of platform administrators and auditors.
func (r *REST) restrictedUser(ctx context.Context) (user.Info, bool) {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || r.authorizer == nil {
		return nil, false
	}
	allowed, _ := authz.UserAllowed(ctx, r.authorizer, u, authorizer.AttributesRecord{
		Verb:            "get",
		APIGroup:        auth.GroupName,
		APIVersion:      authv1.SchemeGroupVersion.Version,
		Resource:        "projects",
		ResourceRequest: true,
	})
	return u, !allowed
}

func (r *REST) predicate(options *metainternalversion.ListOptions) storage.SelectionPredicate {
	label, field := labels.Everything(), fields.Everything()
	if options != nil && options.LabelSelector != nil {
		label = options.LabelSelector
	}
	if options != nil && options.FieldSelector != nil {
		field = options.FieldSelector
	}
	return matchProject(label, field)
}
