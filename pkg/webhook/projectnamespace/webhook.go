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
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/authz"
	authclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned/typed/auth/v1"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
	"github.com/acp-archon/archon/pkg/webhook/admission"
)

// NamespacesPath and ResourceQuotasPath are where kube-apiserver sends
// admission reviews.
const (
	NamespacesPath     = "/admission/namespaces"
	ResourceQuotasPath = "/admission/resourcequotas"
)

// Webhook answers admission reviews. It reads projects, namespaces and
// quotas live rather than from caches: a quota created a moment ago must
// count against the next one.
type Webhook struct {
	cluster    string
	projects   authclient.ProjectInterface
	kube       kubernetes.Interface
	authorizer authorizer.Authorizer
	protected  protectednamespace.Set
	// quotas reads the quotas of a project's namespaces.
	quotas *quota.Reader
	// writes are the quota writes seen, which spend reservations.
	writes *quotaWrites
}

// New returns a webhook for the cluster named cluster. authz decides who
// may put a namespace into a project; protected namespaces never join one.
// quotas reads the quotas of projects; quotaInformer is an informer of
// ResourceQuotas, through which the webhook sees the quotas it allowed
// written.
func New(cluster string, projects authclient.ProjectInterface, kube kubernetes.Interface, authz authorizer.Authorizer,
	protected protectednamespace.Set, quotas *quota.Reader, quotaInformer cache.SharedIndexInformer) (*Webhook, error) {
	wh := &Webhook{cluster: cluster, projects: projects, kube: kube, authorizer: authz, protected: protected, quotas: quotas, writes: newQuotaWrites()}
	return wh, wh.writes.Watch(quotaInformer)
}

// ServeNamespaces reviews namespaces labeled with a project.
func (wh *Webhook) ServeNamespaces(w http.ResponseWriter, r *http.Request) {
	admission.Serve(w, r, "the project rules", refusals(wh.reviewNamespace))
}

// ServeResourceQuotas reviews quotas in namespaces of a project.
func (wh *Webhook) ServeResourceQuotas(w http.ResponseWriter, r *http.Request) {
	admission.Serve(w, r, "the project rules", refusals(wh.reviewQuota))
}

// refusals turns rules returning their problems into a review.
func refusals(rules func(ctx context.Context, request *admissionv1.AdmissionRequest) ([]string, error)) admission.Review {
	return func(ctx context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
		problems, err := rules(ctx, request)
		return admission.Verdict{Problems: problems}, err
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
	joins := old == nil || old.Labels[authv1.NamespaceProjectLabel] != name
	if !joins && request.SubResource != "" {
		// status and finalize, which keep the label as it was: nothing
		// of a project changes, and a namespace being deleted must be
		// able to finish.
		return nil, nil
	}
	project, err := wh.project(ctx, name)
	if err != nil {
		return nil, err
	}
	if joins {
		return wh.reviewJoin(ctx, request, namespace, old, project, name)
	}
	return namespaceRules(namespace, old, project, wh.cluster), nil
}

// reviewJoin reviews a namespace joining project name (created with its
// label, or labeled), through any of the namespace's resources: whoever
// does it hands the project's administrators the namespace, and the
// namespace draws on the project's quota from then on.
func (wh *Webhook) reviewJoin(ctx context.Context, request *admissionv1.AdmissionRequest, namespace, old *corev1.Namespace,
	project *authv1.Project, name string) ([]string, error) {
	// Protected before or after: one update cannot drop the protection
	// and join a project at once.
	if wh.protected.Has(namespace) || old != nil && wh.protected.Has(old) {
		return []string{protectednamespace.Refusal(namespace.Name)}, nil
	}
	// Only those who may update the project may put namespaces into it
	// (archon's imports among them).
	allowed, _ := authz.UserAllowed(ctx, wh.authorizer, admission.User(request.UserInfo), authorizer.AttributesRecord{
		Verb: "update", APIGroup: authv1.GroupName, APIVersion: authv1.SchemeGroupVersion.Version,
		Resource: "projects", Name: name, ResourceRequest: true,
	})
	if !allowed {
		return []string{fmt.Sprintf("putting namespace %s into project %s needs permission to update the project (kubectl auth can-i update projects.auth.alauda.io/%s)",
			namespace.Name, name, name)}, nil
	}
	if problems := namespaceRules(namespace, old, project, wh.cluster); len(problems) > 0 || old == nil {
		return problems, nil // a new namespace holds no quota yet
	}
	// The quotas it holds must fit what the project has left, as an
	// import's must; they are reserved like a new quota until the
	// namespace shows in the project.
	quotas, err := wh.kube.CoreV1().ResourceQuotas(namespace.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var joining []*corev1.ResourceQuota
	var reviewed []reservation
	for i := range quotas.Items {
		q := &quotas.Items[i]
		joining = append(joining, q)
		reviewed = append(reviewed, reservation{Namespace: q.Namespace, Name: q.Name, UID: q.UID, Hard: q.Spec.Hard, Joins: true,
			Expires: metav1.NewTime(time.Now().Add(reservationTTL))})
	}
	limits := projectCluster(project, wh.cluster)
	return wh.admit(ctx, name, reviewed, admission.IsDryRun(request), func(byNamespace map[string][]*corev1.ResourceQuota) []string {
		delete(byNamespace, namespace.Name)
		return quota.Problems(name, wh.cluster, limits.Quota, quota.Use(byNamespace), quota.Effective(joining))
	})
}

func (wh *Webhook) reviewQuota(ctx context.Context, request *admissionv1.AdmissionRequest) ([]string, error) {
	reviewed := &corev1.ResourceQuota{}
	if err := json.Unmarshal(request.Object.Raw, reviewed); err != nil {
		return nil, err
	}
	reviewed.Namespace = request.Namespace
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
	reserved := reservation{Namespace: reviewed.Namespace, Name: reviewed.Name, UID: reviewed.UID, Hard: reviewed.Spec.Hard,
		Expires: metav1.NewTime(time.Now().Add(reservationTTL))}
	if request.Operation == admissionv1.Update {
		previous := &metav1.PartialObjectMetadata{}
		if err := json.Unmarshal(request.OldObject.Raw, previous); err != nil {
			return nil, err
		}
		reserved.Reviewed = previous.ResourceVersion
	}
	return wh.admit(ctx, name, []reservation{reserved}, admission.IsDryRun(request), func(byNamespace map[string][]*corev1.ResourceQuota) []string {
		return quotaRules(reviewed, project, wh.cluster, byNamespace)
	})
}

func (wh *Webhook) project(ctx context.Context, name string) (*authv1.Project, error) {
	project, err := wh.projects.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return project, err
}
