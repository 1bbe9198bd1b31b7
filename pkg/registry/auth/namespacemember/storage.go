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

// Package namespacemember serves namespacemembers, a view of RoleBindings
// labeled auth.alauda.io/namespace-member. Bindings are created with the
// caller's identity (impersonation), so kube-apiserver's own escalation
// rules decide whether they may grant the role.
package namespacemember

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/apis/auth/validation"
	authclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned/typed/auth/v1"
	"github.com/acp-archon/archon/pkg/registry/callers"
)

var clusterRoles = map[auth.NamespaceRole]string{
	auth.NamespaceRoleAdmin:     authv1.NamespaceAdminClusterRole,
	auth.NamespaceRoleDeveloper: authv1.DeveloperClusterRole,
	auth.NamespaceRoleViewer:    authv1.ViewerClusterRole,
}

// REST serves namespacemembers.
type REST struct {
	kube       kubernetes.Interface
	kubeConfig *restclient.Config
	projects   authclient.ProjectInterface
}

var (
	_ rest.Creater              = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.GracefulDeleter      = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.TableConvertor       = &REST{}
)

// NewREST returns the storage of members: RoleBindings read with kube and
// written with kubeConfig impersonating each caller.
func NewREST(kube kubernetes.Interface, kubeConfig *restclient.Config, projects authclient.ProjectInterface) *REST {
	return &REST{kube: kube, kubeConfig: kubeConfig, projects: projects}
}

func (r *REST) New() runtime.Object     { return &auth.NamespaceMember{} }
func (r *REST) NewList() runtime.Object { return &auth.NamespaceMemberList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "namespacemember" }

// Create checks that the subject is a member of the namespace's project and
// binds its role, as the caller.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	member := obj.(*auth.NamespaceMember)
	namespace := genericapirequest.NamespaceValue(ctx)
	member.Namespace = namespace
	if errs := validation.ValidateNamespaceMember(member); len(errs) > 0 {
		return nil, apierrors.NewInvalid(auth.Kind("NamespaceMember"), member.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj); err != nil {
			return nil, err
		}
	}
	if err := r.checkProjectMember(ctx, member); err != nil {
		return nil, err
	}
	client, err := r.clientAs(ctx)
	if err != nil {
		return nil, err
	}
	created, err := client.RbacV1().RoleBindings(namespace).Create(ctx, toRoleBinding(member), metav1.CreateOptions{DryRun: options.DryRun})
	if err != nil {
		return nil, err
	}
	return fromRoleBinding(created)
}

func (r *REST) checkProjectMember(ctx context.Context, member *auth.NamespaceMember) error {
	namespace, err := r.kube.CoreV1().Namespaces().Get(ctx, member.Namespace, metav1.GetOptions{})
	if err != nil {
		return err
	}
	projectName := namespace.Labels[authv1.NamespaceProjectLabel]
	if projectName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("namespace %s belongs to no project; only members of a namespace's project can be added", member.Namespace))
	}
	project, err := r.projects.Get(ctx, projectName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, m := range project.Spec.Members {
		if string(m.Kind) == string(member.Spec.Kind) && m.Name == member.Spec.Name && m.Namespace == member.Spec.Namespace {
			return nil
		}
	}
	return apierrors.NewInvalid(auth.Kind("NamespaceMember"), member.Name, []*field.Error{field.Invalid(field.NewPath("spec", "name"), member.Spec.Name,
		fmt.Sprintf("%s %s is not a member of project %s, which namespace %s belongs to; add them to the project first", member.Spec.Kind, subjectName(member.Spec), projectName, member.Namespace))})
}

// clientAs returns a client that acts as the caller.
func (r *REST) clientAs(ctx context.Context) (kubernetes.Interface, error) {
	config, err := callers.Config(ctx, r.kubeConfig)
	if err != nil {
		return nil, apierrors.NewForbidden(auth.Resource("namespacemembers"), "", err)
	}
	return kubernetes.NewForConfig(config)
}

func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	binding, err := r.kube.RbacV1().RoleBindings(genericapirequest.NamespaceValue(ctx)).Get(ctx, name, *options)
	if err != nil {
		return nil, notFoundAsMember(err, name)
	}
	if binding.Labels[authv1.NamespaceMemberLabel] != "true" {
		return nil, apierrors.NewNotFound(auth.Resource("namespacemembers"), name)
	}
	return fromRoleBinding(binding)
}

func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	listOptions, err := roleBindingOptions(options)
	if err != nil {
		return nil, err
	}
	bindings, err := r.kube.RbacV1().RoleBindings(genericapirequest.NamespaceValue(ctx)).List(ctx, listOptions)
	if err != nil {
		return nil, err
	}
	list := &auth.NamespaceMemberList{}
	list.ResourceVersion = bindings.ResourceVersion
	list.Continue = bindings.Continue
	list.RemainingItemCount = bindings.RemainingItemCount
	for i := range bindings.Items {
		member, err := fromRoleBinding(&bindings.Items[i])
		if err != nil {
			continue // a labeled binding edited by hand into another shape
		}
		list.Items = append(list.Items, *member)
	}
	return list, nil
}

func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	listOptions, err := roleBindingOptions(options)
	if err != nil {
		return nil, err
	}
	w, err := r.kube.RbacV1().RoleBindings(genericapirequest.NamespaceValue(ctx)).Watch(ctx, listOptions)
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(event watch.Event) (watch.Event, bool) {
		binding, ok := event.Object.(*rbacv1.RoleBinding)
		if !ok {
			return event, true // errors pass as they are
		}
		if event.Type == watch.Bookmark {
			event.Object = &auth.NamespaceMember{ObjectMeta: metav1.ObjectMeta{
				ResourceVersion: binding.ResourceVersion, Annotations: binding.Annotations,
			}}
			return event, true
		}
		member, err := fromRoleBinding(binding)
		if err != nil {
			return event, false
		}
		event.Object = member
		return event, true
	}), nil
}

// Delete removes the binding, as the caller.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	existing, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, existing); err != nil {
			return nil, false, err
		}
	}
	client, err := r.clientAs(ctx)
	if err != nil {
		return nil, false, err
	}
	uid := existing.(*auth.NamespaceMember).UID
	err = client.RbacV1().RoleBindings(genericapirequest.NamespaceValue(ctx)).Delete(ctx, name, metav1.DeleteOptions{
		DryRun: options.DryRun, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil {
		return nil, false, notFoundAsMember(err, name)
	}
	return existing, true, nil
}

// roleBindingOptions narrows a list or watch to member bindings; the
// caller's label selector applies on top, field selectors on names only.
func roleBindingOptions(options *metainternalversion.ListOptions) (metav1.ListOptions, error) {
	selector := labels.SelectorFromSet(labels.Set{authv1.NamespaceMemberLabel: "true"})
	out := metav1.ListOptions{LabelSelector: selector.String()}
	if options == nil {
		return out, nil
	}
	if options.LabelSelector != nil && !options.LabelSelector.Empty() {
		out.LabelSelector += "," + options.LabelSelector.String()
	}
	if options.FieldSelector != nil && !options.FieldSelector.Empty() {
		for _, requirement := range options.FieldSelector.Requirements() {
			if requirement.Field != "metadata.name" && requirement.Field != "metadata.namespace" {
				return out, apierrors.NewBadRequest(fmt.Sprintf("field label not supported for namespacemembers: %s", requirement.Field))
			}
		}
		out.FieldSelector = options.FieldSelector.String()
	}
	out.ResourceVersion = options.ResourceVersion
	out.ResourceVersionMatch = options.ResourceVersionMatch
	out.Limit = options.Limit
	out.Continue = options.Continue
	out.AllowWatchBookmarks = options.AllowWatchBookmarks
	out.SendInitialEvents = options.SendInitialEvents
	if options.TimeoutSeconds != nil {
		out.TimeoutSeconds = options.TimeoutSeconds
	}
	return out, nil
}

func toRoleBinding(member *auth.NamespaceMember) *rbacv1.RoleBinding {
	subject := rbacv1.Subject{Kind: string(member.Spec.Kind), Name: member.Spec.Name}
	if member.Spec.Kind == auth.MemberKindServiceAccount {
		subject.Namespace = member.Spec.Namespace
	} else {
		subject.APIGroup = rbacv1.GroupName
	}
	labels := map[string]string{}
	for k, v := range member.Labels {
		labels[k] = v
	}
	labels[authv1.NamespaceMemberLabel] = "true"
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{
			Name: member.Name, GenerateName: member.GenerateName, Namespace: member.Namespace,
			Labels: labels, Annotations: member.Annotations,
		},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRoles[member.Spec.Role]},
		Subjects: []rbacv1.Subject{subject},
	}
}

func fromRoleBinding(binding *rbacv1.RoleBinding) (*auth.NamespaceMember, error) {
	var role auth.NamespaceRole
	for r, clusterRole := range clusterRoles {
		if binding.RoleRef.Kind == "ClusterRole" && binding.RoleRef.Name == clusterRole {
			role = r
		}
	}
	if role == "" || len(binding.Subjects) != 1 {
		return nil, fmt.Errorf("RoleBinding %s/%s is not a namespace member", binding.Namespace, binding.Name)
	}
	subject := binding.Subjects[0]
	member := &auth.NamespaceMember{
		ObjectMeta: *binding.ObjectMeta.DeepCopy(),
		Spec: auth.NamespaceMemberSpec{
			Kind: auth.MemberKind(subject.Kind), Name: subject.Name, Namespace: subject.Namespace, Role: role,
		},
	}
	member.ManagedFields = nil
	return member, nil
}

func subjectName(spec auth.NamespaceMemberSpec) string {
	if spec.Kind == auth.MemberKindServiceAccount {
		return spec.Namespace + "/" + spec.Name
	}
	return spec.Name
}

func notFoundAsMember(err error, name string) error {
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(auth.Resource("namespacemembers"), name)
	}
	return err
}
