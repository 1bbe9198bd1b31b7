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

package acp

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
	"github.com/acp-archon/archon/pkg/containerregistry"
)

// identity is who the kubeconfig authenticates as.
func identity(ctx context.Context, kube kubernetes.Interface) (string, error) {
	review, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("asking kube-apiserver who you are: %w", err)
	}
	return review.Status.UserInfo.Username, nil
}

// mayAny checks that the caller may do one of verbs on the repository's
// Image, and otherwise says what is missing.
func mayAny(ctx context.Context, kube kubernetes.Interface, action, repository string, verbs ...string) error {
	namespace, name, err := containerregistry.SplitRepository(repository)
	if err != nil {
		return err
	}
	// Whoever may not read namespaces learns nothing here, and the review
	// below speaks for itself.
	if _, err := kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return fmt.Errorf("%s is in namespace %q, which does not exist (kubectl acp works with the platform's registry, whose repositories start with a namespace)", repository, namespace)
	}
	for _, verb := range verbs {
		review, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: imagev1.GroupName, Resource: "images", Name: name,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking your access to %s: %w", repository, err)
		}
		if review.Status.Allowed {
			return nil
		}
	}
	return fmt.Errorf("you may not %s %s: that needs %s on images.registry.alauda.io in namespace %q (for example through the %s ClusterRole bound in that namespace)",
		action, repository, strings.Join(verbs, " or "), namespace, roleFor(verbs))
}

func roleFor(verbs []string) string {
	for _, verb := range verbs {
		if verb != "get" {
			return "system:image-pusher"
		}
	}
	return "system:image-puller"
}
