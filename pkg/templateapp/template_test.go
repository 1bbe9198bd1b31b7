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

package templateapp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/acp-archon/archon/pkg/templateapp"
)

func withAnnotations(annotations map[string]string) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: annotations}
}

func TestTemplateOfNamesWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		problem     string
	}{
		{"no repository", map[string]string{templateapp.SourceAnnotation: "web", templateapp.VersionAnnotation: "1.0.0"}, "<repository>/<chart>"},
		{"three parts", map[string]string{templateapp.SourceAnnotation: "a/b/c", templateapp.VersionAnnotation: "1.0.0"}, "<repository>/<chart>"},
		{"bad name", map[string]string{templateapp.SourceAnnotation: "Team/web", templateapp.VersionAnnotation: "1.0.0"}, "repository \"Team\""},
		{"no version", map[string]string{templateapp.SourceAnnotation: "team/web"}, templateapp.VersionAnnotation + " is missing"},
		{"not semantic", map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "latest"}, "not a semantic version"},
		{"values not JSON", map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0",
			templateapp.ValuesAnnotation: "{a"}, "not JSON"},
		{"values a list", map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0",
			templateapp.ValuesAnnotation: "[1]"}, "one JSON object"},
		{"two objects", map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0",
			templateapp.ValuesAnnotation: "{} {}"}, "one JSON object"},
		{"values too large", map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0",
			templateapp.ValuesAnnotation: `{"a":"` + strings.Repeat("x", templateapp.MaxValuesBytes) + `"}`}, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := templateapp.TemplateOf(withAnnotations(tc.annotations))
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %v, want one mentioning %q", err, tc.problem)
			}
		})
	}
}

func TestTemplateHashIgnoresSpacingAndKeyOrder(t *testing.T) {
	read := func(values string) templateapp.Template {
		t.Helper()
		tmpl, err := templateapp.TemplateOf(withAnnotations(map[string]string{templateapp.SourceAnnotation: "team/web",
			templateapp.VersionAnnotation: "1.0.0", templateapp.ValuesAnnotation: values}))
		if err != nil {
			t.Fatal(err)
		}
		return tmpl
	}
	a, b := read(`{"a":1,"b":{"c":2.5}}`), read(`{ "b": {"c": 2.5}, "a": 1 }`)
	if a.Hash() != b.Hash() {
		t.Error("the same values hash differently")
	}
	if a.Values["a"] != int64(1) || a.Values["b"].(map[string]any)["c"] != 2.5 {
		t.Errorf("numbers as helm reads them: %#v", a.Values)
	}
	if a.Hash() == read(`{"a":2,"b":{"c":2.5}}`).Hash() {
		t.Error("other values hash alike")
	}
	noValues, err := templateapp.TemplateOf(withAnnotations(map[string]string{templateapp.SourceAnnotation: "team/web", templateapp.VersionAnnotation: "1.0.0"}))
	if err != nil || noValues.Hash() != read("{}").Hash() {
		t.Errorf("no values and {} differ: %v", err)
	}
}

func TestReportFailsEveryLaterStage(t *testing.T) {
	var conditions []metav1.Condition
	templateapp.Report(&conditions, 3, templateapp.Fail(templateapp.ReasonPermissionCheckFailed, "may not create roles"), "")
	if c := meta.FindStatusCondition(conditions, templateapp.ConditionInitialized); c.Status != metav1.ConditionTrue {
		t.Errorf("Initialized %v", c)
	}
	for _, stage := range []string{templateapp.ConditionValidated, templateapp.ConditionSynced} {
		c := meta.FindStatusCondition(conditions, stage)
		if c.Status != metav1.ConditionFalse || c.Reason != templateapp.ReasonPermissionCheckFailed || c.Message != "may not create roles" || c.ObservedGeneration != 3 {
			t.Errorf("%s %+v", stage, c)
		}
	}
	templateapp.Report(&conditions, 3, nil, "deployed")
	for _, stage := range templateapp.Conditions {
		if !meta.IsStatusConditionTrue(conditions, stage) {
			t.Errorf("%s not true after success", stage)
		}
	}
	conditions = append(conditions, metav1.Condition{Type: "Ready"})
	templateapp.Forget(&conditions)
	if len(conditions) != 1 || conditions[0].Type != "Ready" {
		t.Errorf("after Forget: %v", conditions)
	}
}

func TestSignedRequestersCannotBeForged(t *testing.T) {
	ctx := context.Background()
	kube := kubefake.NewClientset()
	signer := templateapp.NewSigner(kube.CoreV1().Secrets("archon-system"))
	alice := templateapp.RequesterFrom(&user.DefaultInfo{Name: "alice", Groups: []string{"b", "a"}})
	signed, err := signer.Sign(ctx, "shop", "web", alice)
	if err != nil {
		t.Fatal(err)
	}
	// Another replica reads the same key from the Secret.
	other := templateapp.NewSigner(kube.CoreV1().Secrets("archon-system"))
	got, err := other.Verify(ctx, withAnnotations(map[string]string{templateapp.RequesterAnnotation: signed}))
	if err != nil || got.Username != "alice" || strings.Join(got.Groups, ",") != "a,b" {
		t.Fatalf("verify: %+v %v", got, err)
	}
	for name, annotation := range map[string]string{
		"unsigned":          `{"username":"system:admin","groups":["system:masters"]}`,
		"another user":      strings.Replace(signed, `"alice"`, `"mallory"`, 1),
		"more groups":       strings.Replace(signed, `"groups":["a","b"]`, `"groups":["a","b","system:masters"]`, 1),
		"not JSON":          "alice",
		"another app's one": mustSign(t, signer, "shop", "db", alice),
		"another namespace": mustSign(t, signer, "other", "web", alice),
	} {
		if _, err := other.Verify(ctx, withAnnotations(map[string]string{templateapp.RequesterAnnotation: annotation})); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	archon := templateapp.Requester{Username: "system:serviceaccount:archon-system:archon-apiserver"}
	if _, err := other.Verify(ctx, withAnnotations(map[string]string{templateapp.RequesterAnnotation: mustSign(t, signer, "shop", "web", archon)})); err == nil {
		t.Error("archon itself verified as a requester")
	}
	if _, err := other.Verify(ctx, withAnnotations(nil)); !errors.Is(err, templateapp.ErrNoRequester) {
		t.Errorf("no annotation: %v", err)
	}
}

func mustSign(t *testing.T, signer *templateapp.Signer, namespace, name string, r templateapp.Requester) string {
	t.Helper()
	signed, err := signer.Sign(context.Background(), namespace, name, r)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func object(apiVersion, kind, name, namespace string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	obj.SetName(name)
	obj.SetNamespace(namespace)
	return obj
}

// resettable lets a static mapper stand for a discovery one.
type resettable struct{ meta.MultiRESTMapper }

func (resettable) Reset() {}

func TestCheckerAsksAsTheRequester(t *testing.T) {
	kube := kubefake.NewClientset()
	var asked []string
	kube.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		attributes := review.Spec.ResourceAttributes
		asked = append(asked, review.Spec.User+":"+attributes.Verb+":"+attributes.Resource+":"+attributes.Name)
		review.Status.Allowed = attributes.Resource != "roles"
		return true, review, nil
	})
	checker := templateapp.NewChecker(resettable{meta.MultiRESTMapper{testMapperBase()}}, kube.AuthorizationV1().SubjectAccessReviews())
	as := templateapp.Requester{Username: "dev"}
	ctx := context.Background()
	current := []*unstructured.Unstructured{object("v1", "ConfigMap", "kept", ""), object("v1", "ConfigMap", "dropped", "")}
	objects := []*unstructured.Unstructured{object("v1", "ConfigMap", "kept", ""), object("v1", "ConfigMap", "new", "shop")}
	if err := checker.Check(ctx, as, "shop", nil, objects, current); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dev:patch:configmaps:kept", "dev:create:configmaps:", "dev:get:configmaps:new", "dev:delete:configmaps:dropped", "dev:create:secrets:"} {
		if !strings.Contains(strings.Join(asked, " "), want) {
			t.Errorf("not asked %s: %v", want, asked)
		}
	}

	err := checker.Check(ctx, as, "shop", nil, append(objects, object("rbac.authorization.k8s.io/v1", "Role", "reader", "")), nil)
	failure, ok := templateapp.AsFailure(err)
	if !ok || failure.Reason != templateapp.ReasonPermissionCheckFailed || !strings.Contains(failure.Message, "user dev may not create roles.rbac.authorization.k8s.io (Role reader)") {
		t.Errorf("a Role: %v", err)
	}
	for name, obj := range map[string]*unstructured.Unstructured{
		"cluster-scoped":    object("rbac.authorization.k8s.io/v1", "ClusterRole", "wide", ""),
		"another namespace": object("v1", "ConfigMap", "elsewhere", "kube-system"),
	} {
		failure, ok := templateapp.AsFailure(checker.Check(ctx, as, "shop", nil, []*unstructured.Unstructured{obj}, nil))
		if !ok || failure.Reason != templateapp.ReasonConsistentNamespaceCheckFailed {
			t.Errorf("%s: %v", name, failure)
		}
	}
	many := make([]*unstructured.Unstructured, templateapp.MaxObjects+1)
	for i := range many {
		many[i] = object("v1", "ConfigMap", fmt.Sprint("c", i), "")
	}
	if failure, ok := templateapp.AsFailure(checker.Check(ctx, as, "shop", nil, many, nil)); !ok || !strings.Contains(failure.Message, "at most 500") {
		t.Errorf("501 objects: %v", failure)
	}
	failure, ok = templateapp.AsFailure(checker.Check(ctx, as, "shop", nil, []*unstructured.Unstructured{object("example.com/v1", "Widget", "w", "")}, nil))
	if !ok || failure.Reason != templateapp.ReasonDependenciesCheckFailed || !strings.Contains(failure.Message, "does not serve") {
		t.Errorf("an unknown kind: %v", failure)
	}
}

func testMapperBase() *meta.DefaultRESTMapper {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return mapper
}
