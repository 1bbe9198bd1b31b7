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

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
	"github.com/acp-archon/archon/pkg/containerregistry"
)

// registryUser is an identity with its own Docker config, logged in to the
// registry with a ServiceAccount token.
type registryUser struct {
	name, token, dockerConfig string
}

func serviceAccountUser(t *testing.T, namespace, name string) registryUser {
	t.Helper()
	ctx := testContext(t)
	kube := kubeClient(t)
	if _, err := kube.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	token, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u := registryUser{name: "system:serviceaccount:" + namespace + ":" + name, token: token.Status.Token, dockerConfig: t.TempDir()}
	if err := u.crane(t, "auth", "login", plane.RegistryHost, "-u", name, "-p", u.token); err != nil {
		t.Fatal(err)
	}
	return u
}

// crane runs the crane built from go-containerregistry as the user; its
// error holds crane's standard error, where the registry's refusal is.
func (u registryUser) crane(t *testing.T, args ...string) error {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("ARCHON_BIN_DIR"), "crane"), args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+u.dockerConfig, "SSL_CERT_FILE="+plane.RegistryCA())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("crane %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// push pushes a one-layer image holding content to repository:tag.
func (u registryUser) push(t *testing.T, repositoryTag, content string) error {
	t.Helper()
	layer := filepath.Join(t.TempDir(), "layer.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "content.txt", Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(layer, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	err := u.crane(t, "append", "-f", layer, "-t", plane.RegistryHost+"/"+repositoryTag)
	return err
}

func (u registryUser) pull(t *testing.T, repositoryTag string) error {
	t.Helper()
	err := u.crane(t, "pull", plane.RegistryHost+"/"+repositoryTag, filepath.Join(t.TempDir(), "image.tar"))
	return err
}

// canI asks kubectl whether the user may verb images in namespace.
func canI(t *testing.T, u registryUser, verb, namespace string) bool {
	t.Helper()
	out, _ := kubectl(t, plane.KubeconfigPath, "", "auth", "can-i", verb, "images.registry.alauda.io", "-n", namespace, "--as", u.name)
	return strings.TrimSpace(out) == "yes"
}

func bindRole(t *testing.T, namespace, name, role, subjectNamespace, serviceAccount string) {
	t.Helper()
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: subjectNamespace}},
	}
	if _, err := kubeClient(t).RbacV1().RoleBindings(namespace).Create(testContext(t), binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// expectRegistryRefusal fails the test unless err is the registry refusing
// the request with one of codes (when none are given, UNAUTHORIZED, DENIED
// or a bodiless 401 to a HEAD request): a crashed token service, a TLS
// error or a stopped registry fail too, and are no refusal.
func expectRegistryRefusal(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	if len(codes) == 0 {
		codes = []string{"UNAUTHORIZED", "DENIED", "unexpected status code 401 Unauthorized"}
	}
	if err == nil {
		t.Errorf("%s succeeded, want the registry to refuse it with %s", what, strings.Join(codes, " or "))
		return
	}
	for _, code := range codes {
		if strings.Contains(err.Error(), code) {
			return
		}
	}
	t.Errorf("%s: %v, want the registry to refuse it with %s", what, err, strings.Join(codes, " or "))
}

// TestImagesFollowRBAC runs many steps on shared images (crane runs, a
// 10 s denial cache, a registry restart), hence its long context.
func TestImagesFollowRBAC(t *testing.T) {
	ctx := longTestContext(t)
	createNamespaces(t, "img-a", "img-b")
	pusher := serviceAccountUser(t, "img-a", "pusher")
	puller := serviceAccountUser(t, "img-a", "puller")
	outsider := serviceAccountUser(t, "img-b", "outsider")
	builder := serviceAccountUser(t, "img-b", "builder")
	bindRole(t, "img-a", "pusher", "system:image-pusher", "img-a", "pusher")
	bindRole(t, "img-a", "puller", "system:image-puller", "img-a", "puller")

	if err := pusher.push(t, "img-a/app:v1", "one"); err != nil {
		t.Fatalf("a pusher cannot push: %v", err)
	}
	if err := puller.pull(t, "img-a/app:v1"); err != nil {
		t.Errorf("a puller cannot pull: %v", err)
	}
	expectRegistryRefusal(t, "a puller's push", puller.push(t, "img-a/app:v2", "two"))
	expectRegistryRefusal(t, "an outsider's pull", outsider.pull(t, "img-a/app:v1"))
	expectRegistryRefusal(t, "an outsider's push", outsider.push(t, "img-a/other:v1", "x"))

	t.Run("kubectl auth can-i agrees with the registry", func(t *testing.T) {
		for _, c := range []struct {
			user       registryUser
			verb       string
			registryOK bool
		}{
			{pusher, "update", true}, {pusher, "get", true},
			{puller, "get", true}, {puller, "update", false}, {puller, "create", false},
			{outsider, "get", false}, {outsider, "create", false},
		} {
			if got := canI(t, c.user, c.verb, "img-a"); got != c.registryOK {
				t.Errorf("can-i %s images as %s says %v, the registry says %v", c.verb, c.user.name, got, c.registryOK)
			}
		}
	})

	t.Run("a ServiceAccount pulls from another namespace once bound there", func(t *testing.T) {
		expectRegistryRefusal(t, "a pull before the RoleBinding", builder.pull(t, "img-a/app:v1"))
		if canI(t, builder, "get", "img-a") {
			t.Error("can-i says yes before the RoleBinding")
		}
		bindRole(t, "img-a", "builder-pulls", "system:image-puller", "img-b", "builder")
		// Denials are cached briefly (10 s by default), so allow for it.
		eventually(t, "pull after the RoleBinding", func() error { return builder.pull(t, "img-a/app:v1") })
		if !canI(t, builder, "get", "img-a") {
			t.Error("can-i says no after the RoleBinding")
		}
		expectRegistryRefusal(t, "a push by a puller from another namespace", builder.push(t, "img-a/app:v9", "nine"))
	})

	t.Run("kubectl shows pushed tags and a watch sees a push arrive", func(t *testing.T) {
		images := archonClient(t, adminConfig(t)).RegistryV1().Images("img-a")
		var listRV string
		eventually(t, "image listed", func() error {
			list, err := images.List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			listRV = list.ResourceVersion
			if len(list.Items) != 1 || list.Items[0].Name != "app" || len(list.Items[0].Status.Tags) != 1 {
				return fmt.Errorf("images: %+v", list.Items)
			}
			return nil
		})
		table := adminKubectl(t, "", "get", "images", "-n", "img-a")
		if !strings.Contains(table, "TAGS") || !strings.Contains(table, "app") || !strings.Contains(table, "v1") {
			t.Errorf("kubectl get images:\n%s", table)
		}

		w, err := images.Watch(ctx, metav1.ListOptions{ResourceVersion: listRV})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := pusher.push(t, "img-a/app:v2", "two"); err != nil {
			t.Fatal(err)
		}
		// The v1 tag's Docker media type holds "v2" too: look for the tag.
		deadline := time.After(30 * time.Second)
		var seen []string
		for {
			select {
			case event, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("the watch ended before the push of v2 arrived; events: %v", seen)
				}
				image, _ := event.Object.(*imagev1.Image)
				if image == nil {
					t.Fatalf("%s event of %T, want an Image: %v", event.Type, event.Object, event.Object)
				}
				var tags []string
				for _, tag := range image.Status.Tags {
					tags = append(tags, tag.Name)
				}
				seen = append(seen, fmt.Sprintf("%s %s %v", event.Type, image.Name, tags))
				if event.Type == watch.Modified && image.Name == "app" && containsString(tags, "v2") {
					return
				}
			case <-deadline:
				t.Fatalf("the watch did not see tag v2 arrive within 30s; events: %v", seen)
			}
		}
	})

	t.Run("tokens are scoped to what the caller may do", func(t *testing.T) {
		token := registryToken(t, pusher, "repository:img-a/app:pull,push", "repository:img-b/app:pull")
		if access := tokenAccess(t, token); access != "img-a/app:pull,push" {
			t.Errorf("pusher's token grants %q", access)
		}
		if status := registryStatus(t, token, "/v2/img-b/app/tags/list"); status != http.StatusUnauthorized {
			t.Errorf("a token for img-a read img-b: %d", status)
		}
		if status := registryStatus(t, token, "/v2/img-a/app/tags/list"); status != http.StatusOK {
			t.Errorf("a token for img-a cannot read img-a: %d", status)
		}
	})

	t.Run("expired and forged tokens are refused", func(t *testing.T) {
		expired, err := containerregistry.NewSigner(plane.RegistryTokenKey(), "archon", "archon-registry", -time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		forgedKey := filepath.Join(t.TempDir(), "forged.key")
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalECPrivateKey(key)
		if err := os.WriteFile(forgedKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		forged, err := containerregistry.NewSigner(forgedKey, "archon", "archon-registry", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		access := []containerregistry.Access{{Type: "repository", Name: "img-a/app", Actions: []string{"pull"}}}
		for name, signer := range map[string]*containerregistry.Signer{"expired": expired, "forged": forged} {
			token, _, err := signer.Sign(pusher.name, access)
			if err != nil {
				t.Fatal(err)
			}
			if status := registryStatus(t, token, "/v2/img-a/app/tags/list"); status != http.StatusUnauthorized {
				t.Errorf("%s token: registry answered %d", name, status)
			}
		}
		if status := tokenServiceStatus(t, "not-a-kubernetes-token", "repository:img-a/app:pull"); status != http.StatusUnauthorized {
			t.Errorf("a malformed credential got %d from the token service", status)
		}
		if status := tokenServiceStatus(t, pusher.token, "repository"); status != http.StatusBadRequest {
			t.Errorf("a malformed scope got %d from the token service", status)
		}
	})

	t.Run("bad image names get 400", func(t *testing.T) {
		_, err := kubectl(t, plane.KubeconfigPath, "", "get", "image", "Not_A_Repository", "-n", "img-a")
		if err == nil || !strings.Contains(err.Error(), "BadRequest") && !strings.Contains(err.Error(), "invalid image name") {
			t.Errorf("kubectl get of a bad name: %v", err)
		}
	})

	t.Run("deleting an image removes it from the registry", func(t *testing.T) {
		adminKubectl(t, "", "delete", "image", "app", "-n", "img-a")
		expectRegistryRefusal(t, "a pull of a deleted image", pusher.pull(t, "img-a/app:v1"), "MANIFEST_UNKNOWN", "NAME_UNKNOWN")
		if _, err := archonClient(t, adminConfig(t)).RegistryV1().Images("img-a").Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get after delete: %v", err)
		}
	})

	t.Run("a stopped registry gives 503 and the API recovers", func(t *testing.T) {
		plane.StopRegistry()
		_, err := archonClient(t, adminConfig(t)).RegistryV1().Images("img-a").List(ctx, metav1.ListOptions{})
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("list with the registry stopped: %v", err)
		}
		if _, err := archonClient(t, adminConfig(t)).AuthV1().Projects().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("projects with the registry stopped: %v", err)
		}
		if err := plane.StartRegistry(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, "images listed again", func() error {
			_, err := archonClient(t, adminConfig(t)).RegistryV1().Images("img-a").List(ctx, metav1.ListOptions{})
			return err
		})
	})
}

// archonHTTP reaches archon directly, as registry clients do.
func archonHTTP(t *testing.T) *http.Client {
	t.Helper()
	caPEM, err := os.ReadFile(plane.RegistryCA())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func tokenServiceRequest(t *testing.T, credential string, scopes ...string) *http.Response {
	t.Helper()
	query := url.Values{"service": {"archon-registry"}, "scope": scopes}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, plane.ArchonURL+"/registry/token?"+query.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("user", credential)
	resp, err := archonHTTP(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func tokenServiceStatus(t *testing.T, credential string, scopes ...string) int {
	t.Helper()
	resp := tokenServiceRequest(t, credential, scopes...)
	resp.Body.Close()
	return resp.StatusCode
}

func registryToken(t *testing.T, u registryUser, scopes ...string) string {
	t.Helper()
	resp := tokenServiceRequest(t, u.token, scopes...)
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("token service: %d %v", resp.StatusCode, err)
	}
	return body.Token
}

// tokenAccess prints a token's grants as repository:actions;...
func tokenAccess(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims containerregistry.TokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	var grants []string
	for _, a := range claims.Access {
		grants = append(grants, a.Name+":"+strings.Join(a.Actions, ","))
	}
	return strings.Join(grants, ";")
}

func registryStatus(t *testing.T, token, path string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+plane.RegistryHost+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := archonHTTP(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDefaultServiceAccountsGetPullSecrets(t *testing.T) {
	ctx := testContext(t)
	createNamespaces(t, "pull-a", "pull-b")
	for _, namespace := range []string{"pull-a", "pull-b"} {
		pusher := serviceAccountUser(t, namespace, "pusher")
		bindRole(t, namespace, "pusher", "system:image-pusher", namespace, "pusher")
		if err := pusher.push(t, namespace+"/app:v1", "one"); err != nil {
			t.Fatal(err)
		}
	}

	kube := kubeClient(t)
	var password string
	eventually(t, "a pull secret referenced by the default ServiceAccount", func() error {
		account, err := kube.CoreV1().ServiceAccounts("pull-a").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(account.ImagePullSecrets) == 0 || account.ImagePullSecrets[0].Name != "archon-registry-pull" {
			return fmt.Errorf("imagePullSecrets: %v", account.ImagePullSecrets)
		}
		secret, err := kube.CoreV1().Secrets("pull-a").Get(ctx, "archon-registry-pull", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if secret.Type != corev1.SecretTypeDockerConfigJson {
			return fmt.Errorf("secret type %s", secret.Type)
		}
		var config struct {
			Auths map[string]struct{ Password string } `json:"auths"`
		}
		if err := json.Unmarshal(secret.Data[corev1.DockerConfigJsonKey], &config); err != nil {
			return err
		}
		password = config.Auths[plane.RegistryHost].Password
		if password == "" {
			return fmt.Errorf("no credentials for %s in %s", plane.RegistryHost, secret.Data[corev1.DockerConfigJsonKey])
		}
		return nil
	})

	// What the kubelet does with the secret: pull the namespace's images.
	kubelet := registryUser{name: "system:serviceaccount:pull-a:default", token: password, dockerConfig: t.TempDir()}
	if err := kubelet.crane(t, "auth", "login", plane.RegistryHost, "-u", "default", "-p", password); err != nil {
		t.Fatal(err)
	}
	if err := kubelet.pull(t, "pull-a/app:v1"); err != nil {
		t.Errorf("the pull secret cannot pull its namespace's image: %v", err)
	}
	expectRegistryRefusal(t, "a push with the pull secret", kubelet.push(t, "pull-a/app:v2", "two"))
	expectRegistryRefusal(t, "a pull from another namespace with the pull secret", kubelet.pull(t, "pull-b/app:v1"))

	// The token is the registry's alone: whoever reads the secret gets
	// pulls, not the ServiceAccount's rights in kube-apiserver.
	asToken := rest.AnonymousClientConfig(adminConfig(t))
	asToken.BearerToken = password
	tokenClient, err := kubernetes.NewForConfig(asToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokenClient.CoreV1().ServiceAccounts("pull-a").Get(ctx, "default", metav1.GetOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("kube-apiserver with the pull secret's token: %v, want 401", err)
	}
}
