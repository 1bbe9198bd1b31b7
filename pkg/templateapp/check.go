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

package templateapp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

const (
	// MaxObjects bounds the objects of a chart: each costs permission
	// checks.
	MaxObjects = 500
	// maxNamed bounds the objects a failed check names.
	maxNamed = 5
	// checkWorkers bounds the access reviews asked at once.
	checkWorkers = 8
)

// Checker checks what a chart would do before helm does it: every object
// in the application's namespace, of a kind the cluster serves, and
// allowed to the requester.
type Checker struct {
	mapper  meta.ResettableRESTMapper
	reviews authorizationclient.SubjectAccessReviewInterface
}

// NewChecker returns a checker mapping kinds with mapper and asking
// kube-apiserver's authorizer through reviews.
func NewChecker(mapper meta.ResettableRESTMapper, reviews authorizationclient.SubjectAccessReviewInterface) *Checker {
	return &Checker{mapper: mapper, reviews: reviews}
}

// access is one permission a chart needs.
type access struct {
	verb     string
	resource schema.GroupResource
	name     string
	// what names the object needing it, for the message.
	what string
}

// Check checks the objects (and hooks) a release would have in
// namespace against those it has now (current): creating the new ones,
// getting and patching the kept ones, deleting the dropped ones, and
// keeping helm's release records (Secrets). A failure is a *Failure.
func (c *Checker) Check(ctx context.Context, as Requester, namespace string, hooks, objects, current []*unstructured.Unstructured) error {
	if n := len(hooks) + len(objects); n > MaxObjects {
		return Fail(ReasonDependenciesCheckFailed, fmt.Sprintf("the chart renders %d objects; archon installs at most %d", n, MaxObjects))
	}
	needed := []access{}
	secrets := schema.GroupResource{Resource: "secrets"}
	for _, verb := range []string{"get", "list", "create", "update", "delete"} {
		needed = append(needed, access{verb: verb, resource: secrets, what: "helm's release records"})
	}
	had := map[string]bool{}
	for _, obj := range current {
		had[objectKey(obj)] = true
	}
	var outside []string
	add := func(obj *unstructured.Unstructured, verbs ...string) error {
		mapping, err := c.mapping(obj)
		if err != nil {
			return err
		}
		what := describe(obj)
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			outside = append(outside, what+" is cluster-scoped")
			return nil
		}
		if ns := obj.GetNamespace(); ns != "" && ns != namespace {
			outside = append(outside, fmt.Sprintf("%s is in namespace %s", what, ns))
			return nil
		}
		for _, verb := range verbs {
			name := obj.GetName()
			if verb == "create" {
				name = ""
			}
			needed = append(needed, access{verb: verb, resource: mapping.Resource.GroupResource(), name: name, what: what})
		}
		return nil
	}
	for _, obj := range hooks {
		if err := add(obj, "create", "get", "delete"); err != nil {
			return err
		}
	}
	kept := map[string]bool{}
	for _, obj := range objects {
		verbs := []string{"create", "get"}
		if had[objectKey(obj)] {
			verbs = []string{"get", "patch"}
			kept[objectKey(obj)] = true
		}
		if err := add(obj, verbs...); err != nil {
			return err
		}
	}
	for _, obj := range current {
		if !kept[objectKey(obj)] {
			if err := add(obj, "delete"); err != nil {
				return err
			}
		}
	}
	if len(outside) > 0 {
		return Fail(ReasonConsistentNamespaceCheckFailed, fmt.Sprintf(
			"a template application deploys into its own namespace %s only: %s; a platform administrator must create such objects",
			namespace, named(outside)))
	}
	denied, err := c.denied(ctx, as, namespace, needed)
	if err != nil {
		return err
	}
	if len(denied) > 0 {
		return Fail(ReasonPermissionCheckFailed, fmt.Sprintf("user %s may not %s; ask an administrator of namespace %s for the rights, or have someone who has them update the application",
			as.Username, named(denied), namespace))
	}
	return nil
}

// mapping maps an object's kind, reading discovery again once when the
// kind is not known (a CRD installed since).
func (c *Checker) mapping(obj *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	if gvk.Kind == "" || obj.GetName() == "" {
		return nil, Fail(ReasonDependenciesCheckFailed, fmt.Sprintf("the chart renders an object without a kind or name: %s", describe(obj)))
	}
	mapping, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		mapping, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, Fail(ReasonDependenciesCheckFailed, fmt.Sprintf("the cluster does not serve %s (%s)", gvk.GroupVersion().WithKind(gvk.Kind), describe(obj)))
	}
	return mapping, err
}

// denied asks, as the requester, for each access once, and describes
// those refused.
func (c *Checker) denied(ctx context.Context, as Requester, namespace string, needed []access) ([]string, error) {
	type question struct {
		verb     string
		resource schema.GroupResource
		name     string
	}
	asked := map[question][]string{}
	var order []question
	for _, a := range needed {
		q := question{a.verb, a.resource, a.name}
		if _, ok := asked[q]; !ok {
			order = append(order, q)
		}
		asked[q] = append(asked[q], a.what)
	}
	var (
		mu      sync.Mutex
		refused []string
		failure error
		wg      sync.WaitGroup
	)
	work := make(chan question)
	for range min(checkWorkers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range work {
				review, err := c.reviews.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User: as.Username, UID: as.UID, Groups: as.Groups,
					ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: q.verb,
						Group: q.resource.Group, Resource: q.resource.Resource, Name: q.name},
				}}, metav1.CreateOptions{})
				mu.Lock()
				switch {
				case err != nil:
					failure = err
				case !review.Status.Allowed:
					refused = append(refused, fmt.Sprintf("%s %s (%s)", q.verb, q.resource, strings.Join(asked[q], ", ")))
				}
				mu.Unlock()
			}
		}()
	}
	for _, q := range order {
		work <- q
	}
	close(work)
	wg.Wait()
	if failure != nil {
		return nil, fmt.Errorf("checking the requester's permissions: %w", failure)
	}
	sort.Strings(refused)
	return refused, nil
}

// named lists the first few problems and counts the rest.
func named(problems []string) string {
	if len(problems) <= maxNamed {
		return strings.Join(problems, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(problems[:maxNamed], "; "), len(problems)-maxNamed)
}

// describe names an object as a user reads it: Kind name.
func describe(obj *unstructured.Unstructured) string {
	return obj.GetKind() + " " + obj.GetName()
}

func objectKey(obj *unstructured.Unstructured) string {
	return obj.GroupVersionKind().GroupKind().String() + "/" + obj.GetName()
}

// Kinds are the kinds of the objects, each once, in order.
func Kinds(objects []*unstructured.Unstructured) []metav1.GroupKind {
	seen := map[metav1.GroupKind]bool{}
	var kinds []metav1.GroupKind
	for _, obj := range objects {
		gk := obj.GroupVersionKind().GroupKind()
		kind := metav1.GroupKind{Group: gk.Group, Kind: gk.Kind}
		if !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	return kinds
}
