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

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
	authlisters "github.com/acp-archon/archon/pkg/generated/listers/auth/v1"
)

// Controller reconciles one project at a time, keyed by project name.
type Controller struct {
	kube                kubernetes.Interface
	projects            authlisters.ProjectLister
	clusterRoles        rbaclisters.ClusterRoleLister
	clusterRoleBindings rbaclisters.ClusterRoleBindingLister
	roleBindings        rbaclisters.RoleBindingLister
	// The informers below are indexed by the project labels, so a sync
	// reads its project's objects without scanning every binding.
	namespaceInformer          cache.SharedIndexInformer
	clusterRoleInformer        cache.SharedIndexInformer
	clusterRoleBindingInformer cache.SharedIndexInformer
	roleBindingInformer        cache.SharedIndexInformer
	queue                      *keyqueue.Queue
}

// NewOwnedInformers is the informer factory for the cluster-scoped RBAC
// objects this controller owns. It lists and watches only objects carrying
// its label: a cluster holds far more ClusterRoles and ClusterRoleBindings
// than archon makes, and caching them all would cost memory and an event
// for every unrelated change. RoleBindings come from the shared factory,
// because the seats of namespace members are RoleBindings too.
func NewOwnedInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
		kubeinformers.WithTweakListOptions(func(options *metav1.ListOptions) {
			options.LabelSelector = ManagedByProjectLabel
		}))
}

// New wires the controller to its informers; call before starting them.
// ownedInformers comes from NewOwnedInformers.
func New(kube kubernetes.Interface, kubeInformers, ownedInformers kubeinformers.SharedInformerFactory, archonInformers archoninformers.SharedInformerFactory) (*Controller, error) {
	projects := archonInformers.Auth().V1().Projects()
	namespaces := kubeInformers.Core().V1().Namespaces()
	owned := ownedInformers.Rbac().V1()
	roleBindings := kubeInformers.Rbac().V1().RoleBindings()
	c := &Controller{
		kube:                       kube,
		projects:                   projects.Lister(),
		clusterRoles:               owned.ClusterRoles().Lister(),
		clusterRoleBindings:        owned.ClusterRoleBindings().Lister(),
		roleBindings:               roleBindings.Lister(),
		namespaceInformer:          namespaces.Informer(),
		clusterRoleInformer:        owned.ClusterRoles().Informer(),
		clusterRoleBindingInformer: owned.ClusterRoleBindings().Informer(),
		roleBindingInformer:        roleBindings.Informer(),
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
	// project through a label.
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

// Run reconciles projects until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

// sync makes the RBAC objects labelled with the project exactly the
// desired ones: none when the project is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	project, err := c.projects.Get(name)
	if apierrors.IsNotFound(err) {
		project = nil
	} else if err != nil {
		return err
	}

	wantRoles := map[string]*rbacv1.ClusterRole{}
	wantClusterBindings := map[string]*rbacv1.ClusterRoleBinding{}
	wantBindings := map[string]*rbacv1.RoleBinding{}
	if project != nil && project.DeletionTimestamp == nil {
		for _, role := range desiredClusterRoles(project) {
			wantRoles[role.Name] = role
		}
		for _, binding := range desiredClusterRoleBindings(project) {
			wantClusterBindings[binding.Name] = binding
		}
		namespaces, err := keyqueue.ByLabel[*corev1.Namespace](c.namespaceInformer, authv1.NamespaceProjectLabel, name)
		if err != nil {
			return err
		}
		for _, namespace := range namespaces {
			for _, binding := range desiredRoleBindings(project, namespace.Name) {
				wantBindings[binding.Namespace+"/"+binding.Name] = binding
			}
			if err := c.removeFormerMembers(ctx, project, namespace.Name); err != nil {
				return err
			}
		}
	}

	// Roles first, so that bindings never point at a missing role.
	for _, want := range wantRoles {
		if err := c.ensureClusterRole(ctx, want); err != nil {
			return err
		}
	}
	for _, want := range wantClusterBindings {
		if err := c.ensureClusterRoleBinding(ctx, want); err != nil {
			return err
		}
	}
	for _, want := range wantBindings {
		if err := c.ensureRoleBinding(ctx, want); err != nil {
			return err
		}
	}

	bindings, err := keyqueue.ByLabel[*rbacv1.RoleBinding](c.roleBindingInformer, ManagedByProjectLabel, name)
	if err != nil {
		return err
	}
	for _, binding := range bindings {
		if _, keep := wantBindings[binding.Namespace+"/"+binding.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().RoleBindings(binding.Namespace).Delete(ctx, binding.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	clusterBindings, err := keyqueue.ByLabel[*rbacv1.ClusterRoleBinding](c.clusterRoleBindingInformer, ManagedByProjectLabel, name)
	if err != nil {
		return err
	}
	for _, binding := range clusterBindings {
		if _, keep := wantClusterBindings[binding.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	roles, err := keyqueue.ByLabel[*rbacv1.ClusterRole](c.clusterRoleInformer, ManagedByProjectLabel, name)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if _, keep := wantRoles[role.Name]; !keep {
			if err := ignoreNotFound(c.kube.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeFormerMembers deletes the NamespaceMembers of a namespace whose
// subject has left the project: a seat in a namespace needs membership of
// its project.
func (c *Controller) removeFormerMembers(ctx context.Context, project *authv1.Project, namespace string) error {
	seats, err := c.roleBindings.RoleBindings(namespace).List(labels.SelectorFromSet(labels.Set{authv1.NamespaceMemberLabel: "true"}))
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

func (c *Controller) ensureClusterRole(ctx context.Context, want *rbacv1.ClusterRole) error {
	have, err := c.clusterRoles.Get(want.Name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.kube.RbacV1().ClusterRoles().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Unlabelled, so outside the owned informer: made by someone else.
			klog.InfoS("Leaving a ClusterRole not made by archon alone", "clusterRole", want.Name)
			return nil
		}
		return err
	case err != nil:
		return err
	case !ownedBy(have, want.Labels[ManagedByProjectLabel]):
		klog.InfoS("Leaving a ClusterRole not made by archon alone", "clusterRole", want.Name)
		return nil
	case reflect.DeepEqual(have.Rules, want.Rules):
		return nil
	}
	updated := have.DeepCopy()
	updated.Rules = want.Rules
	_, err = c.kube.RbacV1().ClusterRoles().Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

func (c *Controller) ensureClusterRoleBinding(ctx context.Context, want *rbacv1.ClusterRoleBinding) error {
	have, err := c.clusterRoleBindings.Get(want.Name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.kube.RbacV1().ClusterRoleBindings().Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			klog.InfoS("Leaving a ClusterRoleBinding not made by archon alone", "clusterRoleBinding", want.Name)
			return nil
		}
		return err
	case err != nil:
		return err
	case !ownedBy(have, want.Labels[ManagedByProjectLabel]):
		klog.InfoS("Leaving a ClusterRoleBinding not made by archon alone", "clusterRoleBinding", want.Name)
		return nil
	case reflect.DeepEqual(have.Subjects, want.Subjects) && have.RoleRef == want.RoleRef:
		return nil
	case have.RoleRef != want.RoleRef:
		// The role of a binding cannot change; replace the binding.
		if err := ignoreNotFound(c.kube.RbacV1().ClusterRoleBindings().Delete(ctx, want.Name, metav1.DeleteOptions{})); err != nil {
			return err
		}
		_, err = c.kube.RbacV1().ClusterRoleBindings().Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	updated := have.DeepCopy()
	updated.Subjects = want.Subjects
	_, err = c.kube.RbacV1().ClusterRoleBindings().Update(ctx, updated, metav1.UpdateOptions{})
	return err
}

func (c *Controller) ensureRoleBinding(ctx context.Context, want *rbacv1.RoleBinding) error {
	client := c.kube.RbacV1().RoleBindings(want.Namespace)
	have, err := c.roleBindings.RoleBindings(want.Namespace).Get(want.Name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(ctx, want, metav1.CreateOptions{})
		return ignoreAlreadyExists(err)
	case err != nil:
		return err
	case !ownedBy(have, want.Labels[ManagedByProjectLabel]):
		klog.InfoS("Leaving a RoleBinding not made by archon alone", "namespace", want.Namespace, "roleBinding", want.Name)
		return nil
	case reflect.DeepEqual(have.Subjects, want.Subjects) && have.RoleRef == want.RoleRef:
		return nil
	case have.RoleRef != want.RoleRef:
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

// ownedBy reports whether obj was made by this controller for project. An
// object of another project is not ours either: a namespace moving between
// projects is released first, which removes the old bindings.
func ownedBy(obj metav1.Object, project string) bool {
	return obj.GetLabels()[ManagedByProjectLabel] == project
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ignoreAlreadyExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
