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
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	authlisters "github.com/acp-archon/archon/pkg/generated/listers/auth/v1"
)

// Controller reconciles one project at a time, keyed by project name: it
// works out the RBAC objects the project's members need (desired.go),
// makes the cluster hold them, then removes the project's objects nobody
// needs any more.
type Controller struct {
	kube     kubernetes.Interface
	archon   archonclient.Interface
	recorder record.EventRecorder

	projects            authlisters.ProjectLister
	clusterRoles        rbaclisters.ClusterRoleLister
	clusterRoleBindings rbaclisters.ClusterRoleBindingLister
	roleBindings        rbaclisters.RoleBindingLister
	seats               rbaclisters.RoleBindingLister
	// The informers below are indexed by the project labels, so a sync
	// reads its project's objects without scanning every binding.
	namespaceInformer          cache.SharedIndexInformer
	clusterRoleInformer        cache.SharedIndexInformer
	clusterRoleBindingInformer cache.SharedIndexInformer
	roleBindingInformer        cache.SharedIndexInformer
	queue                      *keyqueue.Queue
}

// NewOwnedInformers is the informer factory for the RBAC objects this
// controller owns. It lists and watches only objects carrying its label: a
// cluster holds far more roles and bindings than archon makes, and caching
// them all would cost memory and an event for every unrelated change.
func NewOwnedInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return labelledInformers(kube, ManagedByProjectLabel)
}

// NewSeatInformers is the informer factory for the RoleBindings that are
// NamespaceMembers' seats, which the controller removes when their subject
// leaves the project.
func NewSeatInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return labelledInformers(kube, authv1.NamespaceMemberLabel)
}

func labelledInformers(kube kubernetes.Interface, label string) kubeinformers.SharedInformerFactory {
	return kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
		kubeinformers.WithTweakListOptions(func(options *metav1.ListOptions) { options.LabelSelector = label }))
}

// New wires the controller to its informers; call before starting them.
// ownedInformers comes from NewOwnedInformers and seatInformers from
// NewSeatInformers; recorder reports, on the project, what kept the
// controller from doing its work.
func New(kube kubernetes.Interface, archon archonclient.Interface, recorder record.EventRecorder,
	kubeInformers, ownedInformers, seatInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) (*Controller, error) {
	projects := archonInformers.Auth().V1().Projects()
	namespaces := kubeInformers.Core().V1().Namespaces()
	owned := ownedInformers.Rbac().V1()
	seats := seatInformers.Rbac().V1().RoleBindings()
	c := &Controller{
		kube:                       kube,
		archon:                     archon,
		recorder:                   recorder,
		projects:                   projects.Lister(),
		clusterRoles:               owned.ClusterRoles().Lister(),
		clusterRoleBindings:        owned.ClusterRoleBindings().Lister(),
		roleBindings:               owned.RoleBindings().Lister(),
		seats:                      seats.Lister(),
		namespaceInformer:          namespaces.Informer(),
		clusterRoleInformer:        owned.ClusterRoles().Informer(),
		clusterRoleBindingInformer: owned.ClusterRoleBindings().Informer(),
		roleBindingInformer:        owned.RoleBindings().Informer(),
	}
	c.queue = keyqueue.New("project-rbac", c.sync)
	for informer, label := range map[cache.SharedIndexInformer]string{
		c.namespaceInformer:          authv1.NamespaceProjectLabel,
		c.clusterRoleInformer:        ManagedByProjectLabel,
		c.clusterRoleBindingInformer: ManagedByProjectLabel,
		c.roleBindingInformer:        ManagedByProjectLabel,
	} {
		if err := keyqueue.IndexByLabel(informer, label); err != nil {
			return nil, err
		}
	}

	// Namespaces, and the objects this controller owns, lead back to their
	// project through a label. An owned object whose label someone removed
	// leaves the owned informers as a deletion, which brings its project
	// back to restore it.
	projectIn := func(label string) func(obj any) []string {
		return func(obj any) []string {
			if object, ok := obj.(metav1.Object); ok && object.GetLabels()[label] != "" {
				return []string{object.GetLabels()[label]}
			}
			return nil
		}
	}
	for informer, keys := range map[cache.SharedIndexInformer]func(any) []string{
		projects.Informer():          projectName,
		c.namespaceInformer:          projectIn(authv1.NamespaceProjectLabel),
		c.clusterRoleInformer:        projectIn(ManagedByProjectLabel),
		c.clusterRoleBindingInformer: projectIn(ManagedByProjectLabel),
		c.roleBindingInformer:        projectIn(ManagedByProjectLabel),
		seats.Informer():             c.projectOfNamespace,
	} {
		if err := c.queue.Watch(informer, keys); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func projectName(obj any) []string {
	if object, ok := obj.(metav1.Object); ok {
		return []string{object.GetName()}
	}
	return nil
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

// desiredObjects are the RBAC objects a project needs.
type desiredObjects struct {
	clusterRoles        map[string]*rbacv1.ClusterRole
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	// roleBindings are keyed namespace/name.
	roleBindings map[string]*rbacv1.RoleBinding
}

// sync makes the RBAC objects labeled with the project exactly the
// desired ones: none when the project is gone or being deleted, in which
// case it then lets the deletion finish.
func (c *Controller) sync(ctx context.Context, name string) error {
	project, err := c.projects.Get(name)
	if apierrors.IsNotFound(err) {
		project = nil
	} else if err != nil {
		return err
	}
	live := project != nil && project.DeletionTimestamp == nil
	if live && !slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		// Projects made before the finalizer existed get it now.
		return c.setFinalizer(ctx, project, true)
	}

	want := desiredObjects{
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
		roleBindings:        map[string]*rbacv1.RoleBinding{},
	}
	if live {
		if want, err = c.desired(ctx, project); err != nil {
			return err
		}
		if err := c.apply(ctx, project, want); err != nil {
			return err
		}
	}
	if err := c.prune(ctx, name, want); err != nil {
		return err
	}
	if project != nil && !live && slices.Contains(project.Finalizers, authv1.ProjectRBACFinalizer) {
		return c.setFinalizer(ctx, project, false)
	}
	return nil
}

// desired works out the objects the project needs, and removes the seats
// of namespace members who left the project on the way.
func (c *Controller) desired(ctx context.Context, project *authv1.Project) (desiredObjects, error) {
	want := desiredObjects{
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
		roleBindings:        map[string]*rbacv1.RoleBinding{},
	}
	for _, role := range desiredClusterRoles(project) {
		want.clusterRoles[role.Name] = role
	}
	for _, binding := range desiredClusterRoleBindings(project) {
		want.clusterRoleBindings[binding.Name] = binding
	}
	namespaces, err := keyqueue.ByLabel[*corev1.Namespace](c.namespaceInformer, authv1.NamespaceProjectLabel, project.Name)
	if err != nil {
		return want, err
	}
	for _, namespace := range namespaces {
		for _, binding := range desiredRoleBindings(project, namespace.Name) {
			want.roleBindings[binding.Namespace+"/"+binding.Name] = binding
		}
		if err := c.removeFormerMembers(ctx, project, namespace.Name); err != nil {
			return want, err
		}
	}
	return want, nil
}

// apply makes every desired object exist as desired: roles first, so that
// bindings never point at a missing role.
func (c *Controller) apply(ctx context.Context, project *authv1.Project, want desiredObjects) error {
	for _, role := range want.clusterRoles {
		if err := c.applyClusterRole(ctx, project, role); err != nil {
			return err
		}
	}
	for _, binding := range want.clusterRoleBindings {
		if err := c.applyClusterRoleBinding(ctx, project, binding); err != nil {
			return err
		}
	}
	for _, binding := range want.roleBindings {
		if err := c.applyRoleBinding(ctx, project, binding); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the objects labeled with the project that want does not
// hold.
func (c *Controller) prune(ctx context.Context, project string, want desiredObjects) error {
	bindings, err := keyqueue.ByLabel[*rbacv1.RoleBinding](c.roleBindingInformer, ManagedByProjectLabel, project)
	if err != nil {
		return err
	}
	for _, binding := range bindings {
		if _, keep := want.roleBindings[binding.Namespace+"/"+binding.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().RoleBindings(binding.Namespace).Delete(ctx, binding.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	clusterBindings, err := keyqueue.ByLabel[*rbacv1.ClusterRoleBinding](c.clusterRoleBindingInformer, ManagedByProjectLabel, project)
	if err != nil {
		return err
	}
	for _, binding := range clusterBindings {
		if _, keep := want.clusterRoleBindings[binding.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	roles, err := keyqueue.ByLabel[*rbacv1.ClusterRole](c.clusterRoleInformer, ManagedByProjectLabel, project)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if _, keep := want.clusterRoles[role.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	return nil
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

// createOrRead creates want unless the informer holds its name, and
// returns what holds the name: the cached object, or, when the create
// finds the name taken (by archon a moment ago, as far as the informer
// knows, or by someone else), the object read back. created says the
// create made it.
func createOrRead[T metav1.Object](ctx context.Context, want T,
	cached func(name string) (T, error),
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error)) (have T, created bool, err error) {
	if have, err = cached(want.GetName()); !apierrors.IsNotFound(err) {
		return have, false, err
	}
	if _, err = create(ctx, want, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		return have, err == nil, err
	}
	have, err = get(ctx, want.GetName(), metav1.GetOptions{})
	return have, false, err
}

// applyClusterRole makes the role exist as wanted. A role of that name
// that archon did not make is left alone, and the project says so: only
// cluster administrators can make one, and they may mean it.
func (c *Controller) applyClusterRole(ctx context.Context, project *authv1.Project, want *rbacv1.ClusterRole) error {
	client := c.kube.RbacV1().ClusterRoles()
	have, created, err := createOrRead(ctx, want, c.clusterRoles.Get, client.Create, client.Get)
	switch {
	case created:
		return nil
	case err != nil:
		return ignoreNotFound(err) // deleted since: the next sync makes it
	case !ownedBy(have, project.Name):
		c.nameTaken(project, "ClusterRole", want.Name)
		return nil
	case reflect.DeepEqual(have.Rules, want.Rules):
		return nil
	}
	updated := have.DeepCopy()
	updated.Rules = want.Rules
	_, err = client.Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

// applyClusterRoleBinding is applyClusterRole for the binding.
func (c *Controller) applyClusterRoleBinding(ctx context.Context, project *authv1.Project, want *rbacv1.ClusterRoleBinding) error {
	client := c.kube.RbacV1().ClusterRoleBindings()
	have, created, err := createOrRead(ctx, want, c.clusterRoleBindings.Get, client.Create, client.Get)
	switch {
	case created:
		return nil
	case err != nil:
		return ignoreNotFound(err)
	case !ownedBy(have, project.Name):
		c.nameTaken(project, "ClusterRoleBinding", want.Name)
		return nil
	case reflect.DeepEqual(have.Subjects, want.Subjects) && have.RoleRef == want.RoleRef:
		return nil
	case have.RoleRef != want.RoleRef:
		// The role of a binding cannot change; replace the binding.
		if err := ignoreNotFound(client.Delete(ctx, want.Name, metav1.DeleteOptions{})); err != nil {
			return err
		}
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	updated := have.DeepCopy()
	updated.Subjects = want.Subjects
	_, err = client.Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

// applyRoleBinding makes the binding of a project namespace exist as
// wanted. Its name is the project's in every namespace of the project: a
// binding of that name that someone changed (subjects, role, or the label
// that makes it archon's) or made is put back as the project needs it,
// and the project says what was in the way. Namespace administrators may
// edit RoleBindings; they may not take the project's rights away that way.
func (c *Controller) applyRoleBinding(ctx context.Context, project *authv1.Project, want *rbacv1.RoleBinding) error {
	client := c.kube.RbacV1().RoleBindings(want.Namespace)
	have, created, err := createOrRead(ctx, want, c.roleBindings.RoleBindings(want.Namespace).Get, client.Create, client.Get)
	switch {
	case created:
		return nil
	case err != nil:
		return ignoreNotFound(err)
	case ownedBy(have, project.Name) && reflect.DeepEqual(have.Subjects, want.Subjects) && have.RoleRef == want.RoleRef:
		return nil
	}
	if !ownedBy(have, project.Name) || have.RoleRef != want.RoleRef {
		c.recorder.Eventf(project, corev1.EventTypeWarning, "RoleBindingRestored",
			"RoleBinding %s/%s was changed or made by someone else (role %s, label %s=%q); archon made it the project's again",
			want.Namespace, want.Name, have.RoleRef.Name, ManagedByProjectLabel, have.Labels[ManagedByProjectLabel])
		klog.FromContext(ctx).Info("Restoring a project RoleBinding someone changed", "project", project.Name, "roleBinding", klog.KObj(have))
	}
	if have.RoleRef != want.RoleRef {
		// The role of a binding cannot change; replace the binding.
		if err := ignoreNotFound(client.Delete(ctx, want.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &have.UID}})); err != nil {
			return err
		}
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	updated := have.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for key, value := range want.Labels {
		updated.Labels[key] = value
	}
	updated.Subjects = want.Subjects
	_, err = client.Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

// nameTaken tells the project's readers that an object it needs has been
// made by someone else, and what that costs its members.
func (c *Controller) nameTaken(project *authv1.Project, kind, name string) {
	c.recorder.Eventf(project, corev1.EventTypeWarning, "NameTaken",
		"%s %s exists and was not made by archon, so it is left alone; the project's members lack the rights it would grant until a cluster administrator deletes it",
		kind, name)
}

// conflictRetry is how soon a project is synced again after a write that
// raced with another.
const conflictRetry = time.Second

// ownedBy reports whether obj was made by this controller for project.
func ownedBy(obj metav1.Object, project string) bool {
	return obj.GetLabels()[ManagedByProjectLabel] == project
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
