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

package projectrbac

import (
	"context"
	"errors"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	authlisters "github.com/acp-archon/archon/pkg/generated/listers/auth/v1"
)

// Controller reconciles one project at a time, keyed by project name, in
// three steps: work out the RBAC objects the project's members need
// (desired.go), apply them with server-side apply, then prune the objects
// labeled with the project that are no longer needed (apply.go).
type Controller struct {
	kube     kubernetes.Interface
	archon   archonclient.Interface
	recorder record.EventRecorder

	projects authlisters.ProjectLister
	seats    rbaclisters.RoleBindingLister
	// The informers below are indexed by the project labels, so a sync
	// reads its project's objects without scanning every binding.
	namespaceInformer   cache.SharedIndexInformer
	clusterRoles        kind[*rbacv1.ClusterRole]
	clusterRoleBindings kind[*rbacv1.ClusterRoleBinding]
	roleBindings        kind[*rbacv1.RoleBinding]
	queue               *keyqueue.Queue
}

// NewOwnedInformers returns the informer factory for the RBAC objects this
// controller owns. It lists and watches only objects carrying its label: a
// cluster holds far more roles and bindings than archon makes, and caching
// them all would cost memory and an event for every unrelated change.
func NewOwnedInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return labelledInformers(kube, ManagedByProjectLabel)
}

// NewSeatInformers returns the informer factory for the RoleBindings that are
// NamespaceMembers' seats, which the controller removes when their subject
// leaves the project.
func NewSeatInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return labelledInformers(kube, authv1.NamespaceMemberLabel)
}

func labelledInformers(kube kubernetes.Interface, label string) kubeinformers.SharedInformerFactory {
	return kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
		kubeinformers.WithTweakListOptions(func(options *metav1.ListOptions) { options.LabelSelector = label }))
}

// New returns the controller, wired to its informers; call it before
// starting them.
// ownedInformers comes from NewOwnedInformers and seatInformers from
// NewSeatInformers; recorder reports, on the project, what kept the
// controller from doing its work.
func New(kube kubernetes.Interface, archon archonclient.Interface, recorder record.EventRecorder,
	kubeInformers, ownedInformers, seatInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) (*Controller, error) {
	projects := archonInformers.Auth().V1().Projects()
	namespaces := kubeInformers.Core().V1().Namespaces()
	owned := ownedInformers.Rbac().V1()
	seats := seatInformers.Rbac().V1().RoleBindings()
	rbac := kube.RbacV1()
	c := &Controller{
		kube:              kube,
		archon:            archon,
		recorder:          recorder,
		projects:          projects.Lister(),
		seats:             seats.Lister(),
		namespaceInformer: namespaces.Informer(),
		clusterRoles: kind[*rbacv1.ClusterRole]{
			informer: owned.ClusterRoles().Informer(),
			client:   func(string) client[*rbacv1.ClusterRole] { return rbac.ClusterRoles() },
			same: func(have, want *rbacv1.ClusterRole) bool {
				return apiequality.Semantic.DeepEqual(have.Rules, want.Rules)
			},
		},
		clusterRoleBindings: kind[*rbacv1.ClusterRoleBinding]{
			informer: owned.ClusterRoleBindings().Informer(),
			client:   func(string) client[*rbacv1.ClusterRoleBinding] { return rbac.ClusterRoleBindings() },
			same: func(have, want *rbacv1.ClusterRoleBinding) bool {
				return apiequality.Semantic.DeepEqual(have.Subjects, want.Subjects)
			},
			roleRef: func(binding *rbacv1.ClusterRoleBinding) rbacv1.RoleRef { return binding.RoleRef },
		},
		roleBindings: kind[*rbacv1.RoleBinding]{
			informer: owned.RoleBindings().Informer(),
			client:   func(namespace string) client[*rbacv1.RoleBinding] { return rbac.RoleBindings(namespace) },
			same: func(have, want *rbacv1.RoleBinding) bool {
				return apiequality.Semantic.DeepEqual(have.Subjects, want.Subjects)
			},
			roleRef: func(binding *rbacv1.RoleBinding) rbacv1.RoleRef { return binding.RoleRef },
			// A project's namespaces are run by namespace admins, who may
			// edit RoleBindings: they may not take the project's rights
			// away by editing, unlabeling or making its bindings.
			reclaim: true,
		},
	}
	c.queue = keyqueue.New("project-rbac", c.sync)
	for informer, label := range map[cache.SharedIndexInformer]string{
		c.namespaceInformer:            authv1.NamespaceProjectLabel,
		c.clusterRoles.informer:        ManagedByProjectLabel,
		c.clusterRoleBindings.informer: ManagedByProjectLabel,
		c.roleBindings.informer:        ManagedByProjectLabel,
	} {
		if err := keyqueue.IndexByLabel(informer, label); err != nil {
			return nil, err
		}
	}

	// Namespaces, and the objects this controller owns, lead back to their
	// project through a label. An owned object whose label someone removed
	// leaves the owned informers as a deletion, which brings its project
	// back to restore it.
	for informer, keys := range map[cache.SharedIndexInformer]func(any) []string{
		projects.Informer():            keyqueue.NameKey,
		c.namespaceInformer:            keyqueue.LabelKey(authv1.NamespaceProjectLabel),
		c.clusterRoles.informer:        keyqueue.LabelKey(ManagedByProjectLabel),
		c.clusterRoleBindings.informer: keyqueue.LabelKey(ManagedByProjectLabel),
		c.roleBindings.informer:        keyqueue.LabelKey(ManagedByProjectLabel),
		seats.Informer():               c.projectOfNamespace,
	} {
		if err := c.queue.Watch(informer, keys); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// projectOfNamespace leads a seat to the project of its namespace.
func (c *Controller) projectOfNamespace(obj any) []string {
	object, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	namespace, exists, err := c.namespaceInformer.GetIndexer().GetByKey(object.GetNamespace())
	if err != nil || !exists {
		return nil
	}
	if project := namespace.(*corev1.Namespace).Labels[authv1.NamespaceProjectLabel]; project != "" {
		return []string{project}
	}
	return nil
}

// Run reconciles projects until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

// sync makes the RBAC objects labeled with the project exactly the
// desired ones: none when the project is gone or being deleted, in which
// case it then lets the deletion finish.
func (c *Controller) sync(ctx context.Context, name string) error {
	project, err := c.projects.Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	live := project != nil && project.DeletionTimestamp == nil
	if live && !slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		// Projects made before the finalizer existed get it now.
		return c.setFinalizer(ctx, project, true)
	}

	var want rbacSet // nothing, unless the project lives
	if live {
		namespaces, err := keyqueue.ByLabel[*corev1.Namespace](c.namespaceInformer, authv1.NamespaceProjectLabel, name)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(namespaces))
		for _, namespace := range namespaces {
			names = append(names, namespace.Name)
		}
		want = desired(project, names)
		// What takes rights away runs even when granting failed: an
		// object a tenant can keep from being applied (a terminating
		// binding of a desired name) must not keep a removed member's
		// seats or a departed role's bindings alive. The sync still fails,
		// and is retried, when any part did.
		errs := []error{c.apply(ctx, project, want)}
		for _, namespace := range names {
			errs = append(errs, c.removeFormerMembers(ctx, project, namespace))
		}
		errs = append(errs, c.prune(ctx, name, want))
		return errors.Join(errs...)
	}
	if err := c.prune(ctx, name, want); err != nil {
		return err
	}
	if project != nil && !live && slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		return c.setFinalizer(ctx, project, false)
	}
	return nil
}

// apply makes the cluster hold want: roles first, so that no binding
// points at a missing role.
func (c *Controller) apply(ctx context.Context, project *authv1.Project, want rbacSet) error {
	if err := applyAll(ctx, c, c.clusterRoles, project, want.clusterRoles); err != nil {
		return err
	}
	if err := applyAll(ctx, c, c.clusterRoleBindings, project, want.clusterRoleBindings); err != nil {
		return err
	}
	return applyAll(ctx, c, c.roleBindings, project, want.roleBindings)
}

// prune deletes the objects labeled with the project that want does not
// hold: bindings first, so that no binding points at a missing role.
func (c *Controller) prune(ctx context.Context, project string, want rbacSet) error {
	if err := pruneAll(ctx, c.roleBindings, project, want.roleBindings); err != nil {
		return err
	}
	if err := pruneAll(ctx, c.clusterRoleBindings, project, want.clusterRoleBindings); err != nil {
		return err
	}
	return pruneAll(ctx, c.clusterRoles, project, want.clusterRoles)
}

// setFinalizer adds or removes the project's RBAC finalizer. A conflict
// waits for the informer to bring the newer project.
func (c *Controller) setFinalizer(ctx context.Context, project *authv1.Project, present bool) error {
	updated := project.DeepCopy()
	updated.Finalizers = slices.DeleteFunc(updated.Finalizers, func(f string) bool { return f == authv1.ProjectRBACFinalizer })
	if present {
		updated.Finalizers = append(updated.Finalizers, authv1.ProjectRBACFinalizer)
	}
	_, err := c.archon.AuthV1().Projects().Update(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		c.queue.AddAfter(project.Name, conflictRetry)
		return nil
	}
	return err
}

// removeFormerMembers deletes the NamespaceMembers of a namespace whose
// subject has left the project: a seat in a namespace needs membership of
// its project.
func (c *Controller) removeFormerMembers(ctx context.Context, project *authv1.Project, namespace string) error {
	seats, err := c.seats.RoleBindings(namespace).List(labels.SelectorFromSet(labels.Set{authv1.NamespaceMemberLabel: "true"}))
	if err != nil {
		return err
	}
	for _, seat := range seats {
		if len(seat.Subjects) == 1 && isProjectMember(project, seat.Subjects[0]) {
			continue
		}
		if err := ignoreNotFound(c.kube.RbacV1().RoleBindings(namespace).Delete(ctx, seat.Name, metav1.DeleteOptions{})); err != nil {
			return err
		}
	}
	return nil
}

func isProjectMember(project *authv1.Project, s rbacv1.Subject) bool {
	for _, member := range project.Spec.Members {
		if string(member.Kind) == s.Kind && member.Name == s.Name && member.Namespace == s.Namespace {
			return true
		}
	}
	return false
}

// conflictRetry is how soon a project is synced again after a write that
// raced with another.
const conflictRetry = time.Second
