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

package namespaceimport_test

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/acp-archon/archon/internal/storagetest"
	"github.com/acp-archon/archon/pkg/api"
	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
	"github.com/acp-archon/archon/pkg/registry/auth/namespaceimport"
)

var etcdURL string

func TestMain(m *testing.M) {
	os.Exit(storagetest.Main(m, &etcdURL))
}

// An import interrupted before its label is finished later with the
// rights of who asked, as they are then: someone who lost them gets a
// Failed record and the namespace stays out.
func TestInterruptedImportsFinishOnlyWithTheirAuthorsRights(t *testing.T) {
	kube := kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "left"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}},
	)
	archon := archonfake.NewSimpleClientset(&authv1.Project{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: authv1.ProjectSpec{Clusters: []authv1.ProjectCluster{{Name: "global"}}}})
	var down atomic.Bool
	kube.PrependReactor("update", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errors.New("kube-apiserver went away")
		}
		return false, nil, nil
	})
	allowed := map[string]bool{"ann": true, "bob": true}
	var revoked atomic.Bool
	authz := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if allowed[a.GetUser().GetName()] && !(revoked.Load() && a.GetUser().GetName() == "ann") {
			return authorizer.DecisionAllow, "", nil
		}
		return authorizer.DecisionNoOpinion, "", nil
	})

	optsGetter := storagetest.RESTOptions(t, etcdURL, authv1.SchemeGroupVersion, auth.Resource("namespaceimports"))
	protected := protectednamespace.New()
	quotas, err := quota.NewReader(kube, nil)
	if err != nil {
		t.Fatal(err)
	}
	imports, err := namespaceimport.NewStorage(api.Scheme, optsGetter,
		namespaceimport.NewImporter("global", archon.AuthV1().Projects(), kube, quotas, protected), authz, protected)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(imports.Destroy)

	as := func(name string) context.Context {
		return genericapirequest.WithUser(genericapirequest.WithNamespace(genericapirequest.NewContext(), ""), &user.DefaultInfo{Name: name})
	}
	down.Store(true)
	for who, namespace := range map[string]string{"ann": "left", "bob": "kept"} {
		imp := &auth.NamespaceImport{ObjectMeta: metav1.ObjectMeta{Name: namespace},
			Spec: auth.NamespaceImportSpec{Project: "shop", Cluster: "global", Namespace: namespace}}
		if _, err := imports.Create(as(who), imp, nil, &metav1.CreateOptions{}); err == nil {
			t.Fatalf("%s's import went through with kube-apiserver away", who)
		}
	}
	down.Store(false)
	revoked.Store(true) // ann lost her rights meanwhile

	imports.FinishInterrupted(as("system:apiserver"), 0)
	for namespace, want := range map[string]struct {
		phase  auth.NamespaceImportPhase
		reason string
		label  string
	}{
		"left": {auth.NamespaceImportFailed, "Forbidden", ""},
		"kept": {auth.NamespaceImportSucceeded, "Imported", "shop"},
	} {
		obj, err := imports.Get(as("system:apiserver"), namespace, &metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		imp := obj.(*auth.NamespaceImport)
		condition := meta.FindStatusCondition(imp.Status.Conditions, authv1.NamespaceImportConditionImported)
		if imp.Status.Phase != want.phase || condition == nil || condition.Reason != want.reason {
			t.Errorf("import of %s after recovery: %s %+v, want %s %s", namespace, imp.Status.Phase, condition, want.phase, want.reason)
		}
		ns, _ := kube.CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{})
		if got := ns.Labels[authv1.NamespaceProjectLabel]; got != want.label {
			t.Errorf("namespace %s is in project %q, want %q", namespace, got, want.label)
		}
	}
}
