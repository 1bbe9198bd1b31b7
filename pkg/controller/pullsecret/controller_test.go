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

package pullsecret

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// newController returns a controller over a fake cluster holding team-a
// and its default ServiceAccount, whose tokens are "token-<n>" valid for
// lifetime.
func newController(t *testing.T, lifetime time.Duration) (*Controller, *kubefake.Clientset, *time.Time, *int) {
	t.Helper()
	kube := kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"}},
	)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	issued := 0
	kube.PrependReactor("create", "serviceaccounts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		issued++
		request := action.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		if request.Spec.BoundObjectRef == nil || request.Spec.BoundObjectRef.Kind != "Secret" || request.Spec.BoundObjectRef.Name != SecretName {
			t.Errorf("token not bound to the secret: %+v", request.Spec.BoundObjectRef)
		}
		if len(request.Spec.Audiences) != 1 || request.Spec.Audiences[0] != "archon-registry" {
			t.Errorf("token for audiences %q, want the registry's alone: kube-apiserver must not accept it", request.Spec.Audiences)
		}
		request.Status = authenticationv1.TokenRequestStatus{
			Token:               "token-" + string(rune('0'+issued)),
			ExpirationTimestamp: metav1.NewTime(now.Add(lifetime)),
		}
		return true, request, nil
	})
	shared := kubeinformers.NewSharedInformerFactory(kube, 0)
	secrets, bindings := NewOwnedInformers(kube)
	serviceAccounts := NewDefaultServiceAccountInformers(kube)
	c, err := New(kube, record.NewFakeRecorder(10), "registry.example.com", "archon-registry", shared, secrets, bindings, serviceAccounts)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, f := range []kubeinformers.SharedInformerFactory{shared, secrets, bindings, serviceAccounts} {
		f.Start(ctx.Done())
		for typ, synced := range f.WaitForCacheSync(ctx.Done()) {
			if !synced {
				t.Fatalf("%v not synced", typ)
			}
		}
	}
	return c, kube, &now, &issued
}

// syncUntilStable syncs team-a until a sync writes nothing, waiting after
// each for the informers to see the controller's own writes.
func syncUntilStable(t *testing.T, c *Controller, kube *kubefake.Clientset) {
	t.Helper()
	for range 10 {
		before := writes(kube)
		if err := c.sync(context.Background(), "team-a"); err != nil {
			t.Fatal(err)
		}
		informersCaughtUp(t, c, kube)
		if writes(kube) == before {
			return
		}
	}
	t.Fatal("team-a still changes after 10 syncs")
}

// writes counts the writes the fake cluster has seen.
func writes(kube *kubefake.Clientset) int {
	n := 0
	for _, action := range kube.Actions() {
		switch action.GetVerb() {
		case "create", "update", "patch", "delete":
			n++
		}
	}
	return n
}

// informersCaughtUp waits until the controller's listers hold what the
// cluster holds for team-a's pull secret, default ServiceAccount and
// pullers' binding.
func informersCaughtUp(t *testing.T, c *Controller, kube *kubefake.Clientset) {
	t.Helper()
	ctx := context.Background()
	same := func(cached runtime.Object, cacheErr error, live runtime.Object, liveErr error) bool {
		if apierrors.IsNotFound(cacheErr) || apierrors.IsNotFound(liveErr) {
			return apierrors.IsNotFound(cacheErr) && apierrors.IsNotFound(liveErr)
		}
		return cacheErr == nil && liveErr == nil && apiequality.Semantic.DeepEqual(cached, live)
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		cachedSecret, cacheErr := c.secrets.Secrets("team-a").Get(SecretName)
		liveSecret, liveErr := kube.CoreV1().Secrets("team-a").Get(ctx, SecretName, metav1.GetOptions{})
		if !same(cachedSecret, cacheErr, liveSecret, liveErr) {
			return false, nil
		}
		cachedAccount, cacheErr := c.serviceAccounts.ServiceAccounts("team-a").Get("default")
		liveAccount, liveErr := kube.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
		if !same(cachedAccount, cacheErr, liveAccount, liveErr) {
			return false, nil
		}
		cachedBinding, cacheErr := c.roleBindings.RoleBindings("team-a").Get(PullersBindingName)
		liveBinding, liveErr := kube.RbacV1().RoleBindings("team-a").Get(ctx, PullersBindingName, metav1.GetOptions{})
		return same(cachedBinding, cacheErr, liveBinding, liveErr), nil
	})
	if err != nil {
		t.Fatalf("the informers never caught up with the cluster: %v", err)
	}
}

func TestNamespacesGetAPullSecretAndPullers(t *testing.T) {
	c, kube, _, issued := newController(t, 24*time.Hour)
	syncUntilStable(t, c, kube)
	ctx := context.Background()

	secret, err := kube.CoreV1().Secrets("team-a").Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		Auths map[string]struct{ Username, Password, Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &config); err != nil {
		t.Fatal(err)
	}
	if auth := config.Auths["registry.example.com"]; auth.Password != "token-1" || auth.Auth == "" {
		t.Errorf("docker config %s", secret.Data[corev1.DockerConfigJsonKey])
	}
	if *issued != 1 {
		t.Errorf("%d tokens issued for one namespace", *issued)
	}
	account, err := kube.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
	if err != nil || len(account.ImagePullSecrets) != 1 || account.ImagePullSecrets[0].Name != SecretName {
		t.Errorf("imagePullSecrets: %+v %v", account, err)
	}
	binding, err := kube.RbacV1().RoleBindings("team-a").Get(ctx, PullersBindingName, metav1.GetOptions{})
	if err != nil || binding.RoleRef.Name != "system:image-puller" || binding.Subjects[0].Name != "system:serviceaccounts:team-a" {
		t.Errorf("pullers binding: %+v %v", binding, err)
	}
}

func TestTokensAreRenewedAtFourFifthsOfTheirLife(t *testing.T) {
	c, kube, now, issued := newController(t, 10*time.Hour)
	syncUntilStable(t, c, kube)
	secret, _ := kube.CoreV1().Secrets("team-a").Get(context.Background(), SecretName, metav1.GetOptions{})
	if got := secret.Annotations[RenewAnnotation]; got != "2026-11-27T16:00:00Z" {
		t.Errorf("renew at %s, want 8 of 10 hours on", got)
	}

	*now = now.Add(7 * time.Hour)
	syncUntilStable(t, c, kube)
	if *issued != 1 {
		t.Errorf("renewed after 7 of 10 hours")
	}
	*now = now.Add(time.Hour + time.Minute)
	syncUntilStable(t, c, kube)
	if *issued != 2 {
		t.Errorf("%d tokens after 8 of 10 hours, want a renewal", *issued)
	}
}

// TestAHandMadeSecretIsLeftAloneAndReported: a secret of the pull secret's
// name that archon did not make is never written; the ServiceAccount gets
// a Warning Event saying why its pods have no pull secret.
func TestAHandMadeSecretIsLeftAloneAndReported(t *testing.T) {
	c, kube, _, issued := newController(t, 24*time.Hour)
	ctx := context.Background()
	handMade := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: "team-a"},
		Data:       map[string][]byte{"note": []byte("mine")},
	}
	if _, err := kube.CoreV1().Secrets("team-a").Create(ctx, handMade, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(ctx, "team-a"); err == nil || !strings.Contains(err.Error(), "is not archon's") {
		t.Fatalf("sync with a hand-made secret: %v, want an error (retried) saying it is not archon's", err)
	}
	select {
	case event := <-c.recorder.(*record.FakeRecorder).Events:
		if !strings.Contains(event, "Warning "+ReasonSecretNameTaken) {
			t.Fatalf("event %q, want a %s warning", event, ReasonSecretNameTaken)
		}
	default:
		t.Fatal("no Event reports the secret in the way")
	}
	secret, err := kube.CoreV1().Secrets("team-a").Get(ctx, SecretName, metav1.GetOptions{})
	if err != nil || string(secret.Data["note"]) != "mine" || len(secret.Data) != 1 || *issued != 0 {
		t.Fatalf("the hand-made secret was changed (%+v, %v) or a token issued (%d)", secret, err, *issued)
	}
}
