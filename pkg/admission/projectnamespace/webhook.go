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

package projectnamespace

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	authclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned/typed/auth/v1"
	"github.com/acp-archon/archon/pkg/quota"
)

const (
	// NamespacesPath and ResourceQuotasPath are where kube-apiserver sends
	// admission reviews.
	NamespacesPath     = "/admission/namespaces"
	ResourceQuotasPath = "/admission/resourcequotas"

	// maxReviewBytes bounds a request body; reviews of these small objects
	// are a few kilobytes.
	maxReviewBytes = 3 << 20
)

// Webhook answers admission reviews. It reads projects, namespaces and
// quotas live rather than from caches: a quota created a moment ago must
// count against the next one.
type Webhook struct {
	cluster  string
	projects authclient.ProjectInterface
	kube     kubernetes.Interface
}

// New returns a webhook for the cluster named cluster.
func New(cluster string, projects authclient.ProjectInterface, kube kubernetes.Interface) *Webhook {
	return &Webhook{cluster: cluster, projects: projects, kube: kube}
}

// ServeNamespaces reviews namespaces labelled with a project.
func (wh *Webhook) ServeNamespaces(w http.ResponseWriter, r *http.Request) {
	wh.serve(w, r, wh.reviewNamespace)
}

// ServeResourceQuotas reviews quotas in namespaces of a project.
func (wh *Webhook) ServeResourceQuotas(w http.ResponseWriter, r *http.Request) {
	wh.serve(w, r, wh.reviewQuota)
}

type reviewFunc func(ctx context.Context, request *admissionv1.AdmissionRequest) ([]string, error)

func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request, review reviewFunc) {
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(body, in); err != nil || in.Request == nil {
		http.Error(w, fmt.Sprintf("not an admission.k8s.io/v1 AdmissionReview: %v", err), http.StatusBadRequest)
		return
	}

	response := &admissionv1.AdmissionResponse{UID: in.Request.UID, Allowed: true}
	{
		problems, err := review(r.Context(), in.Request)
		switch {
		case err != nil:
			response.Allowed = false
			response.Result = &apierrors.NewInternalError(err).ErrStatus
		case len(problems) > 0:
			response.Allowed = false
			response.Result = &metav1.Status{
				Status:  metav1.StatusFailure,
				Code:    http.StatusForbidden,
				Reason:  metav1.StatusReasonForbidden,
				Message: strings.Join(problems, "; "),
			}
			klog.V(2).InfoS("Refused by the project rules", "kind", in.Request.Kind.Kind, "namespace", in.Request.Namespace,
				"name", in.Request.Name, "user", in.Request.UserInfo.Username, "reasons", problems)
		}
	}

	out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: response}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		klog.ErrorS(err, "Writing an admission response")
	}
}

func (wh *Webhook) reviewNamespace(ctx context.Context, request *admissionv1.AdmissionRequest) ([]string, error) {
	namespace := &corev1.Namespace{}
	if err := json.Unmarshal(request.Object.Raw, namespace); err != nil {
		return nil, err
	}
	var old *corev1.Namespace
	if request.Operation == admissionv1.Update {
		old = &corev1.Namespace{}
		if err := json.Unmarshal(request.OldObject.Raw, old); err != nil {
			return nil, err
		}
	}
	name := namespace.Labels[authv1.NamespaceProjectLabel]
	if name == "" {
		return nil, nil // released, or never in a project
	}
	project, err := wh.project(ctx, name)
	if err != nil {
		return nil, err
	}
	return namespaceRules(namespace, old, project, wh.cluster), nil
}

func (wh *Webhook) reviewQuota(ctx context.Context, request *admissionv1.AdmissionRequest) ([]string, error) {
	quota := &corev1.ResourceQuota{}
	if err := json.Unmarshal(request.Object.Raw, quota); err != nil {
		return nil, err
	}
	quota.Namespace = request.Namespace
	namespace, err := wh.kube.CoreV1().Namespaces().Get(ctx, request.Namespace, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	name := namespace.Labels[authv1.NamespaceProjectLabel]
	if name == "" {
		return nil, nil
	}
	project, err := wh.project(ctx, name)
	if err != nil || project == nil {
		return nil, err
	}
	others, err := wh.projectQuotas(ctx, name, quota)
	if err != nil {
		return nil, err
	}
	return quotaRules(quota, project, wh.cluster, others), nil
}

// projectQuotas are the quotas of every namespace of the project, by
// namespace, except the one under review.
func (wh *Webhook) projectQuotas(ctx context.Context, project string, except *corev1.ResourceQuota) (map[string][]*corev1.ResourceQuota, error) {
	byNamespace, err := quota.ProjectQuotas(ctx, wh.kube, project)
	if err != nil {
		return nil, err
	}
	others := byNamespace[except.Namespace][:0]
	for _, q := range byNamespace[except.Namespace] {
		if q.Name != except.Name {
			others = append(others, q)
		}
	}
	byNamespace[except.Namespace] = others
	return byNamespace, nil
}

func (wh *Webhook) project(ctx context.Context, name string) (*authv1.Project, error) {
	project, err := wh.projects.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return project, err
}
