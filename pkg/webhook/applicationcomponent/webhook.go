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

// Package applicationcomponent holds the admission rules on the
// components of applications: a resource belongs to at most one
// application, an application's Ingress routes to its own Services, and
// an application with spec.addOwnerRef owns the components that join it,
// in the request that makes them join, so with the rights of its author.
package applicationcomponent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/acp-archon/archon/pkg/application"
	"github.com/acp-archon/archon/pkg/registry/callers"
	"github.com/acp-archon/archon/pkg/webhook/admission"
)

// Where kube-apiserver sends the reviews: ComponentsPath validates
// resources of the component kinds, OwnersPath mutates them (owner
// references), ApplicationsPath validates applications.
const (
	ComponentsPath   = "/admission/application-components"
	OwnersPath       = "/admission/application-owners"
	ApplicationsPath = "/admission/applications"
)

// maxProblems bounds the problems one refusal names.
const maxProblems = 5

// listPage and maxChecked bound what the review of an application reads:
// pages of names and labels, and the objects it selects in all.
const (
	listPage   = 500
	maxChecked = 10000
)

// maxIngressServices bounds the Services an application's Ingress routes
// to, each of which the review reads.
const maxIngressServices = 100

// Webhook answers the reviews. It finds applications in an informer,
// which every replica runs, and reads Services and applications live
// where a stale answer would do harm.
type Webhook struct {
	applications cache.GenericLister
	synced       cache.InformerSynced
	kube         kubernetes.Interface
	dynamic      dynamic.Interface
	kubeConfig   *restclient.Config
	reader       *application.Reader
}

// New returns the webhook: applications is an informer of Applications;
// kube and dynamicClient read live with archon's rights; an application's
// new components are listed as the requester through the cluster
// kubeConfig reaches, with reader.
func New(applications kubeinformers.GenericInformer, kube kubernetes.Interface, dynamicClient dynamic.Interface, kubeConfig *restclient.Config,
	reader *application.Reader) *Webhook {
	return &Webhook{applications: applications.Lister(), synced: applications.Informer().HasSynced, kube: kube, dynamic: dynamicClient,
		kubeConfig: kubeConfig, reader: reader}
}

// ServeComponents reviews a resource of a component kind whose labels,
// owners or (an Ingress) routes change.
func (wh *Webhook) ServeComponents(w http.ResponseWriter, r *http.Request) {
	admission.Serve(w, r, "the application component rules", wh.reviewComponent)
}

// ServeOwners sets the owner references of a resource of a component kind
// whose labels or owners change.
func (wh *Webhook) ServeOwners(w http.ResponseWriter, r *http.Request) {
	admission.Serve(w, r, "the application owner rule", wh.reviewOwners)
}

// ServeApplications reviews an application whose selector or component
// kinds change.
func (wh *Webhook) ServeApplications(w http.ResponseWriter, r *http.Request) {
	admission.Serve(w, r, "the application component rules", wh.reviewApplication)
}

// errNotSynced refuses reviews before the informer has synced.
var errNotSynced = errors.New("archon is still reading the applications; try again in a moment")

// Ready is a readiness check: the webhook answers once its informer of
// applications has synced.
func (wh *Webhook) Ready(*http.Request) error {
	if !wh.synced() {
		return errNotSynced
	}
	return nil
}

// applicationsOf lists the applications of namespace from the informer;
// until it has synced, reviews fail (closed).
func (wh *Webhook) applicationsOf(namespace string) ([]*unstructured.Unstructured, error) {
	if !wh.synced() {
		return nil, errNotSynced
	}
	objects, err := wh.applications.ByNamespace(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	apps := make([]*unstructured.Unstructured, 0, len(objects))
	for _, obj := range objects {
		if app, ok := obj.(*unstructured.Unstructured); ok {
			apps = append(apps, app)
		}
	}
	return apps, nil
}

func decode(raw []byte) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if len(raw) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(raw, &obj.Object); err != nil {
		return nil, err
	}
	return obj, nil
}

func kindOf(request *admissionv1.AdmissionRequest) schema.GroupKind {
	return schema.GroupKind{Group: request.Kind.Group, Kind: request.Kind.Kind}
}

func (wh *Webhook) reviewComponent(ctx context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	obj, err := decode(request.Object.Raw)
	if err != nil || obj == nil {
		return admission.Verdict{}, err
	}
	old, err := decode(request.OldObject.Raw)
	if err != nil {
		return admission.Verdict{}, err
	}
	obj.SetNamespace(request.Namespace)
	apps, err := wh.applicationsOf(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	kind := kindOf(request)
	claimants := application.ClaimantsOf(apps)
	claimed := claimants.Claims(kind, obj)
	var before []string
	if old != nil {
		old.SetNamespace(request.Namespace)
		before = claimants.Claims(kind, old)
	}
	member := kind.Kind + "/" + obj.GetName()
	if len(claimed) > 1 && !isSubset(claimed, before) {
		return admission.Refuse(fmt.Sprintf(
			"%s would belong to applications %s, and a resource belongs to at most one application: change its labels, or remove it from one of them first (kubectl acp app remove APP %s)",
			member, strings.Join(claimed, " and "), strings.ToLower(member))), nil
	}
	if len(claimed) != 1 || kind != application.IngressKind {
		return admission.Verdict{}, nil
	}
	owner := claimed[0]
	services := application.IngressServices(obj)
	if len(services) > maxIngressServices {
		return admission.Refuse(fmt.Sprintf("%s of application %s routes to %d Services: an application's Ingress routes to at most %d",
			member, owner, len(services), maxIngressServices)), nil
	}
	var problems []string
	for _, service := range services {
		svc, err := wh.kube.CoreV1().Services(request.Namespace).Get(ctx, service, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // not created yet: its labels will decide
		}
		if err != nil {
			return admission.Verdict{}, err
		}
		svc.Namespace = request.Namespace
		if !slices.Contains(claimants.Claims(application.ServiceKind, svc), owner) {
			problems = append(problems, fmt.Sprintf("%s of application %s routes to Service/%s, which is not in it: an application's Ingress routes to its own Services (kubectl acp app import %s service/%s)",
				member, owner, service, owner, service))
		}
		if len(problems) == maxProblems {
			break
		}
	}
	return admission.Verdict{Problems: problems}, nil
}

func isSubset(names, of []string) bool {
	for _, name := range names {
		if !slices.Contains(of, name) {
			return false
		}
	}
	return true
}

// reviewOwners makes the owner references of a resource follow the
// applications: the one application whose selector claims it owns it
// when its spec.addOwnerRef says so, and an application whose selector
// claimed the resource before the change and no longer does stops owning
// it, so a resource labeled out of an application survives its deletion.
func (wh *Webhook) reviewOwners(ctx context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	obj, err := decode(request.Object.Raw)
	if err != nil || obj == nil {
		return admission.Verdict{}, err
	}
	old, err := decode(request.OldObject.Raw)
	if err != nil {
		return admission.Verdict{}, err
	}
	obj.SetNamespace(request.Namespace)
	apps, err := wh.applicationsOf(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	kind := kindOf(request)
	claimants := application.ClaimantsOf(apps)
	selecting := claimants.Selecting(kind, obj)
	var before []string
	if old != nil {
		old.SetNamespace(request.Namespace)
		before = claimants.Selecting(kind, old)
	}
	labeledOut := map[string]bool{}
	for _, name := range before {
		labeledOut[name] = !slices.Contains(selecting, name)
	}
	var refs []metav1.OwnerReference
	changed := false
	for _, ref := range obj.GetOwnerReferences() {
		if application.IsApplicationReference(ref) && labeledOut[ref.Name] {
			changed = true
			continue
		}
		refs = append(refs, ref)
	}
	if len(selecting) == 1 {
		name := selecting[0]
		newlySelected := !slices.Contains(before, name)
		// A reference the request itself takes off stays off: the garbage
		// collector orphaning the components of an application being
		// deleted does just that.
		takenOff := old != nil && application.IsOwnedBy(old, name) && !application.IsOwnedBy(obj, name)
		if newlySelected && !takenOff && !application.IsOwnedBy(obj, name) {
			ref, err := wh.adoption(ctx, request, name, kind, obj)
			if err != nil {
				return admission.Verdict{}, err
			}
			if ref != nil {
				refs = append(refs, *ref)
				changed = true
			}
		}
	}
	if !changed {
		return admission.Verdict{}, nil
	}
	op := "replace"
	if obj.GetOwnerReferences() == nil {
		op = "add"
	}
	patch, err := json.Marshal([]map[string]any{{"op": op, "path": "/metadata/ownerReferences", "value": refs}})
	return admission.Verdict{Patch: patch}, err
}

// adoption is the owner reference the application name gets to obj, or
// nil. The application is read live: the informer may be behind its
// deletion and re-creation, and a reference to a UID gone would have the
// garbage collector delete obj. It adopts only while it is not being
// deleted, selects obj and asks for owner references, and only objects
// written by someone who may update it: the one who could have imported
// them. An object a controller writes (a CronJob's Job) is left to its
// owner, which the application owns.
func (wh *Webhook) adoption(ctx context.Context, request *admissionv1.AdmissionRequest, name string, kind schema.GroupKind,
	obj *unstructured.Unstructured) (*metav1.OwnerReference, error) {
	live, err := wh.dynamic.Resource(application.Resource).Namespace(request.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	spec, err := application.SpecOf(live)
	if err != nil || !spec.AddOwnerRef || live.GetDeletionTimestamp() != nil ||
		len(application.ClaimantsOf([]*unstructured.Unstructured{live}).Selecting(kind, obj)) == 0 {
		return nil, nil
	}
	author := request.UserInfo
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range author.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review, err := wh.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: author.Username, UID: author.UID, Groups: author.Groups, Extra: extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: request.Namespace, Verb: "update",
				Group: application.Resource.Group, Resource: application.Resource.Resource, Name: name},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	if !review.Status.Allowed {
		return nil, nil
	}
	ref := application.OwnerReference(live)
	return &ref, nil
}

// reviewApplication refuses an application whose selector and component
// kinds would claim resources that already belong to another
// application. It lists the new components as the requester, so a
// refusal names nothing the requester could not list; kinds the
// requester may not list are not checked (claiming them gives nothing:
// every operation acts as the caller, and an owner reference is only
// written in a request of someone allowed to write the resource).
func (wh *Webhook) reviewApplication(ctx context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	app, err := decode(request.Object.Raw)
	if err != nil || app == nil {
		return admission.Verdict{}, err
	}
	app.SetNamespace(request.Namespace)
	spec, err := application.SpecOf(app)
	if err != nil {
		return admission.Refuse(fmt.Sprintf("application %s: spec: %v", app.GetName(), err)), nil
	}
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); spec.Selector == nil || err != nil || selector.Empty() {
		return admission.Verdict{}, nil // claims nothing (Claims ignores an empty selector)
	}
	if request.UserInfo.Username == "" {
		return admission.Refuse("a request without a user cannot be checked as its author"), nil
	}
	apps, err := wh.applicationsOf(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	var others []*unstructured.Unstructured
	for _, other := range apps {
		if other.GetName() != app.GetName() {
			others = append(others, other)
		}
	}
	if len(others) == 0 {
		return admission.Verdict{}, nil
	}
	config, err := callers.Config(genericapirequest.WithUser(ctx, admission.User(request.UserInfo)), wh.kubeConfig)
	if err != nil {
		return admission.Verdict{}, err
	}
	client, err := metadata.NewForConfig(config)
	if err != nil {
		return admission.Verdict{}, err
	}
	selector, _ := metav1.LabelSelectorAsSelector(spec.Selector)
	claimants := application.ClaimantsOf(others)
	var problems []string
	listed := 0
	for _, kind := range spec.ComponentKinds {
		mapping, err := wh.reader.Mapping(schema.GroupKind(kind))
		if err != nil || mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			continue // holds no components: the status says so
		}
		// Names and labels only, a page at a time, as the requester:
		// kinds she may not list are not checked.
		options := metav1.ListOptions{LabelSelector: selector.String(), Limit: listPage}
		for {
			list, err := client.Resource(mapping.Resource).Namespace(request.Namespace).List(ctx, options)
			if apierrors.IsForbidden(err) {
				break
			}
			if err != nil {
				return admission.Verdict{}, err
			}
			for i := range list.Items {
				c := &list.Items[i]
				c.Namespace = request.Namespace
				if claimed := claimants.Claims(schema.GroupKind(kind), c); len(claimed) > 0 && len(problems) < maxProblems {
					problems = append(problems, fmt.Sprintf(
						"%s/%s already belongs to application %s, and a resource belongs to at most one application: narrow spec.selector, or remove it from %s first",
						kind.Kind, c.Name, claimed[0], claimed[0]))
				}
			}
			if listed += len(list.Items); listed > maxChecked {
				return admission.Refuse(fmt.Sprintf("application %s selects more than %d objects: narrow spec.selector", app.GetName(), maxChecked)), nil
			}
			if options.Continue = list.Continue; options.Continue == "" {
				break
			}
		}
	}
	return admission.Verdict{Problems: problems}, nil
}
