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

// Package pullsecret gives every namespace's default ServiceAccount an image
// pull secret for the platform's registry: a token of that ServiceAccount,
// bound to the secret and renewed before it expires. Pods of a namespace
// can pull its images because every ServiceAccount of a namespace may: a
// RoleBinding grants system:image-puller to the namespace's
// ServiceAccounts group.
package pullsecret

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/acp-archon/archon/pkg/controller/keyqueue"
)

const (
	// ReasonSecretNameTaken is the Event on a default ServiceAccount whose
	// namespace holds a secret of the pull secret's name archon did not
	// make.
	ReasonSecretNameTaken = "PullSecretNameTaken"
	// SecretName is the pull secret in every namespace.
	SecretName = "archon-registry-pull"
	// PullersBindingName binds system:image-puller to the namespace's
	// ServiceAccounts.
	PullersBindingName = "system:image-pullers"
	// ManagedLabel marks the secrets and bindings this controller owns.
	ManagedLabel = "registry.alauda.io/pull-secret"
	// ExpiresAnnotation says when the secret's token expires.
	ExpiresAnnotation = "registry.alauda.io/token-expires"
	// RenewAnnotation says when the controller replaces the token.
	RenewAnnotation = "registry.alauda.io/token-renew-at"
	// hostAnnotation records the registry the secret is for, so that a new
	// registry address means a new secret; audienceAnnotation the audience
	// of its token, likewise.
	hostAnnotation     = "registry.alauda.io/host"
	audienceAnnotation = "registry.alauda.io/token-audience"

	serviceAccountName = "default"
	// tokenLifetime is how long a pull token is asked to be valid; it is
	// renewed once four fifths of its actual lifetime have passed.
	tokenLifetime = 24 * time.Hour
)

// Controller keeps the pull secret of every namespace current.
type Controller struct {
	kube         kubernetes.Interface
	recorder     record.EventRecorder
	registryHost string
	// audience is what the tokens are issued for: the registry's token
	// service accepts it and kube-apiserver does not, so a pull secret's
	// readers get pulls and nothing else.
	audience        string
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	secrets         corelisters.SecretLister
	roleBindings    rbaclisters.RoleBindingLister
	queue           *keyqueue.Queue
	now             func() time.Time
}

// NewOwnedInformers returns the informer factories for the secrets and the
// bindings this controller owns, by label and name, so that it never
// caches any other secret of the cluster.
func NewOwnedInformers(kube kubernetes.Interface) (secrets, bindings kubeinformers.SharedInformerFactory) {
	named := func(name string) kubeinformers.SharedInformerFactory {
		return kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
			kubeinformers.WithTweakListOptions(func(options *metav1.ListOptions) {
				options.LabelSelector = ManagedLabel
				options.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			}))
	}
	return named(SecretName), named(PullersBindingName)
}

// NewDefaultServiceAccountInformers returns the informer factory for the
// default ServiceAccount of every namespace.
func NewDefaultServiceAccountInformers(kube kubernetes.Interface) kubeinformers.SharedInformerFactory {
	return kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
		kubeinformers.WithTweakListOptions(func(options *metav1.ListOptions) {
			options.FieldSelector = fields.OneTermEqualSelector("metadata.name", serviceAccountName).String()
		}))
}

// New returns the controller; registryHost is the host:port pods pull
// from and audience the one its token service accepts. secretInformers and
// bindingInformers come from NewOwnedInformers. recorder reports, on the
// ServiceAccount, a pull secret it cannot write.
func New(kube kubernetes.Interface, recorder record.EventRecorder, registryHost, audience string,
	kubeInformers, secretInformers, bindingInformers, serviceAccountInformers kubeinformers.SharedInformerFactory) (*Controller, error) {
	namespaces := kubeInformers.Core().V1().Namespaces()
	serviceAccounts := serviceAccountInformers.Core().V1().ServiceAccounts()
	secrets := secretInformers.Core().V1().Secrets()
	roleBindings := bindingInformers.Rbac().V1().RoleBindings()
	c := &Controller{
		kube:            kube,
		recorder:        recorder,
		registryHost:    registryHost,
		audience:        audience,
		namespaces:      namespaces.Lister(),
		serviceAccounts: serviceAccounts.Lister(),
		secrets:         secrets.Lister(),
		roleBindings:    roleBindings.Lister(),
		now:             time.Now,
	}
	c.queue = keyqueue.New("image-pull-secrets", c.sync)
	for _, informer := range []cache.SharedIndexInformer{namespaces.Informer(), serviceAccounts.Informer(), secrets.Informer(), roleBindings.Informer()} {
		if err := c.queue.Watch(informer, keyqueue.NamespaceKey); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Run syncs namespaces until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) { c.queue.Run(ctx, workers) }

func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) || err == nil && ns.DeletionTimestamp != nil {
		return nil // what it held goes with it
	}
	if err != nil {
		return err
	}
	if err := c.ensurePullersBinding(ctx, namespace); err != nil {
		return err
	}
	serviceAccount, err := c.serviceAccounts.ServiceAccounts(namespace).Get(serviceAccountName)
	if apierrors.IsNotFound(err) {
		return nil // made soon by kube-controller-manager; its event requeues
	}
	if err != nil {
		return err
	}
	renewAt, err := c.ensureSecret(ctx, serviceAccount)
	if err != nil {
		return err
	}
	c.queue.AddAfter(namespace, renewAt.Sub(c.now()))
	return c.ensureReferenced(ctx, serviceAccount)
}

func (c *Controller) ensurePullersBinding(ctx context.Context, namespace string) error {
	if _, err := c.roleBindings.RoleBindings(namespace).Get(PullersBindingName); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: PullersBindingName, Namespace: namespace, Labels: map[string]string{ManagedLabel: "true"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:image-puller"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: "system:serviceaccounts:" + namespace}},
	}
	_, err := c.kube.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // made by hand without the label: left alone
	}
	return err
}

// ensureSecret keeps a current token in the pull secret and returns when
// it is due for renewal. The token is bound to the secret, so deleting the
// secret revokes it.
func (c *Controller) ensureSecret(ctx context.Context, serviceAccount *corev1.ServiceAccount) (time.Time, error) {
	namespace := serviceAccount.Namespace
	secret, err := c.secrets.Secrets(namespace).Get(SecretName)
	if apierrors.IsNotFound(err) {
		// Created empty first: the token is bound to the secret's UID.
		secret, err = c.kube.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: namespace, Labels: map[string]string{ManagedLabel: "true"}},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte("{}")},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Made since the cache was filled: read it rather than wait.
			secret, err = c.kube.CoreV1().Secrets(namespace).Get(ctx, SecretName, metav1.GetOptions{})
		}
	}
	if err == nil && secret.Labels[ManagedLabel] != "true" {
		c.recorder.Eventf(serviceAccount, corev1.EventTypeWarning, ReasonSecretNameTaken,
			"The secret %s was not made by archon, which leaves it alone: pods of this namespace get no registry pull secret until it is renamed or deleted", SecretName)
		return time.Time{}, fmt.Errorf("secret %s/%s exists and is not archon's; leaving it alone", namespace, SecretName)
	}
	if err != nil {
		return time.Time{}, err
	}
	if renewAt, err := time.Parse(time.RFC3339, secret.Annotations[RenewAnnotation]); err == nil && c.now().Before(renewAt) &&
		secret.Annotations[hostAnnotation] == c.registryHost && secret.Annotations[audienceAnnotation] == c.audience {
		return renewAt, nil
	}

	seconds := int64(tokenLifetime.Seconds())
	token, err := c.kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         []string{c.audience},
			ExpirationSeconds: &seconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Secret", Name: secret.Name, UID: secret.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, err
	}
	config, err := dockerConfig(c.registryHost, serviceAccount.Name, token.Status.Token)
	if err != nil {
		return time.Time{}, err
	}
	updated := secret.DeepCopy()
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	expires := token.Status.ExpirationTimestamp.Time
	renewAt := c.now().Add(expires.Sub(c.now()) * 4 / 5)
	updated.Annotations[ExpiresAnnotation] = expires.UTC().Format(time.RFC3339)
	updated.Annotations[RenewAnnotation] = renewAt.UTC().Format(time.RFC3339)
	updated.Annotations[hostAnnotation] = c.registryHost
	updated.Annotations[audienceAnnotation] = c.audience
	updated.Data = map[string][]byte{corev1.DockerConfigJsonKey: config}
	if _, err := c.kube.CoreV1().Secrets(namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return time.Time{}, err
	}
	return renewAt, nil
}

// ensureReferenced adds the secret to the ServiceAccount's
// imagePullSecrets with a strategic merge patch, which merges by name and
// so cannot conflict with other writers of the ServiceAccount.
func (c *Controller) ensureReferenced(ctx context.Context, serviceAccount *corev1.ServiceAccount) error {
	if slices.ContainsFunc(serviceAccount.ImagePullSecrets, func(ref corev1.LocalObjectReference) bool { return ref.Name == SecretName }) {
		return nil
	}
	patch := []byte(`{"imagePullSecrets":[{"name":"` + SecretName + `"}]}`)
	_, err := c.kube.CoreV1().ServiceAccounts(serviceAccount.Namespace).Patch(ctx, serviceAccount.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// dockerConfig is the .dockerconfigjson the kubelet reads: the token as
// the password, which the registry's token service accepts.
func dockerConfig(host, username, token string) ([]byte, error) {
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	config := map[string]map[string]auth{"auths": {host: {
		Username: username,
		Password: token,
		Auth:     base64.StdEncoding.EncodeToString([]byte(username + ":" + token)),
	}}}
	data, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the pull secret: %w", err)
	}
	return data, nil
}
