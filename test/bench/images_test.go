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

package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/acp-archon/archon/internal/localplane"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

const (
	bigImageMiB      = 100
	transferRounds   = 5
	tokenSamples     = 500
	listRepositories = 500
	listTags         = 20
	imageListSamples = 20
)

// BenchmarkImages measures the registry behind archon's token service
// against the same registry without authentication, the token service,
// and listing a namespace of many repositories.
func BenchmarkImages(b *testing.B) {
	ctx := context.Background()
	plane, binDir := startPlane(b)
	openHost, stopOpen, err := plane.StartOpenRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer stopOpen()

	kube, err := kubernetes.NewForConfig(plane.AdminConfig())
	if err != nil {
		b.Fatal(err)
	}
	token := pusherToken(ctx, b, kube, "bench-images")
	crane := craneRunner{bin: filepath.Join(binDir, "crane"), dockerConfig: b.TempDir(), ca: plane.RegistryCA()}
	crane.run(b, "auth", "login", plane.RegistryHost, "-u", "pusher", "-p", token)

	image := bigImage(b, crane)
	var push, pull [2]timings
	for round := 0; round < transferRounds; round++ {
		for i, host := range []string{plane.RegistryHost, openHost} {
			ref := fmt.Sprintf("%s/bench-images/big-%d:v1", host, round)
			push[i] = push[i].add(timeIt(func() { crane.run(b, "push", image, ref) }))
			out := filepath.Join(b.TempDir(), "pulled.tar")
			pull[i] = pull[i].add(timeIt(func() { crane.run(b, "pull", ref, out) }))
			os.Remove(out)
		}
	}

	cold, cached, coldRate, cachedRate := tokenIssuance(b, plane, token)
	apiList, kubectlList := imageLists(ctx, b, plane, kube, binDir)

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nImages: %d MiB image with crane, median of %d; %d token requests; a namespace of %d repositories x %d tags\n",
		bigImageMiB, transferRounds, tokenSamples, listRepositories, listTags)
	fmt.Fprintln(w, "measure\tarchon (token auth)\tno auth\tratio\ttarget\t")
	fmt.Fprintf(w, "push %d MiB\t%s\t%s\t%.2f\t<= 1.1\t\n", bigImageMiB, push[0].p(50), push[1].p(50), ratioOf(push[0], push[1]))
	fmt.Fprintf(w, "pull %d MiB\t%s\t%s\t%.2f\t<= 1.1\t\n", bigImageMiB, pull[0].p(50), pull[1].p(50), ratioOf(pull[0], pull[1]))
	fmt.Fprintln(w, "\t\t\t\t\t")
	fmt.Fprintln(w, "measure\tp50\tp99\treq/s\ttarget\t")
	fmt.Fprintf(w, "token, decision not cached\t%s\t%s\t%.0f\t\t\n", cold.p(50), cold.p(99), coldRate)
	fmt.Fprintf(w, "token, decision cached\t%s\t%s\t%.0f\t\t\n", cached.p(50), cached.p(99), cachedRate)
	fmt.Fprintf(w, "list images (API, %d x %d)\t%s\t%s\t\t\t\n", listRepositories, listTags, apiList.p(50), apiList.p(99))
	fmt.Fprintf(w, "kubectl get images (warm)\t%s\t%s\t\tp50 <= 300ms\t\n", kubectlList.p(50), kubectlList.p(99))
	w.Flush()

	b.ReportMetric(ratioOf(push[0], push[1]), "push-auth/noauth")
	b.ReportMetric(ratioOf(pull[0], pull[1]), "pull-auth/noauth")
	b.ReportMetric(float64(kubectlList.p(50))/float64(time.Millisecond), "kubectl-get-images-p50-ms")
}

func (t timings) add(d time.Duration) timings {
	t.sorted = append(t.sorted, d)
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
}

func ratioOf(a, b timings) float64 { return float64(a.p(50)) / float64(b.p(50)) }

func timeIt(do func()) time.Duration {
	start := time.Now()
	do()
	return time.Since(start)
}

// pusherToken is a token of a ServiceAccount that may push in namespace.
func pusherToken(ctx context.Context, b *testing.B, kube kubernetes.Interface, namespace string) string {
	return roleToken(ctx, b, kube, namespace, "pusher", "system:image-pusher")
}

// roleToken makes namespace and a ServiceAccount in it bound to a
// ClusterRole there, and returns a token of the ServiceAccount.
func roleToken(ctx context.Context, b *testing.B, kube kubernetes.Interface, namespace, serviceAccount, role string) string {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: serviceAccount},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	token, err := kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return token.Status.Token
}

type craneRunner struct{ bin, dockerConfig, ca string }

func (c craneRunner) run(b *testing.B, args ...string) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+c.dockerConfig, "SSL_CERT_FILE="+c.ca)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("crane %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// bigImage writes an image tarball with one layer of random bytes, so that
// the pushes and pulls move the layer rather than compress it.
func bigImage(b *testing.B, crane craneRunner) string {
	dir := b.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	file, err := os.Create(layer)
	if err != nil {
		b.Fatal(err)
	}
	tw := tar.NewWriter(file)
	size := int64(bigImageMiB) << 20
	if err := tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: size}); err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(tw, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	file.Close()
	image := filepath.Join(dir, "image.tar")
	crane.run(b, "append", "-f", layer, "-t", "bench/big:v1", "-o", image)
	return image
}

// tokenIssuance times the token service with SubjectAccessReviews it has
// not cached (a new repository every request) and with cached ones.
func tokenIssuance(b *testing.B, plane *localplane.Plane, token string) (cold, cached timings, coldRate, cachedRate float64) {
	transport := localTransport(b, plane)
	transport.MaxIdleConnsPerHost = loadWorkers
	client := &http.Client{Transport: transport}
	request := func(repository string) error {
		query := url.Values{"service": {"archon-registry"}, "scope": {"repository:bench-images/" + repository + ":pull"}}
		req, err := http.NewRequest(http.MethodGet, plane.ArchonURL+"/registry/token?"+query.Encode(), nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("pusher", token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("token service: %s", resp.Status)
		}
		return nil
	}
	n := 0
	cold = latencies(tokenSamples, func() error { n++; return request(fmt.Sprintf("cold-%d", n)) })
	cached = latencies(tokenSamples, func() error { return request("cached") })
	if cold.err != nil || cached.err != nil {
		b.Fatal(cold.err, cached.err)
	}
	start := time.Now()
	parallel(b, tokenSamples, func(i int) error { return request(fmt.Sprintf("cold-rate-%d", i)) })
	coldRate = tokenSamples / time.Since(start).Seconds()
	start = time.Now()
	parallel(b, tokenSamples, func(int) error { return request("cached") })
	cachedRate = tokenSamples / time.Since(start).Seconds()
	return cold, cached, coldRate, cachedRate
}

// imageLists fills a namespace with repositories and tags through the
// token service, waits until archon's catalog holds them, and times
// listing them through kube-apiserver: the API call, and kubectl as a user
// runs it.
func imageLists(ctx context.Context, b *testing.B, plane *localplane.Plane, kube kubernetes.Interface, binDir string) (api, kubectl timings) {
	const namespace = "bench-list"
	token := pusherToken(ctx, b, kube, namespace)
	options := []remote.Option{remote.WithAuth(&authn.Basic{Username: "pusher", Password: token}), remote.WithTransport(localTransport(b, plane)), remote.WithContext(ctx)}
	image, err := random.Image(1024, 1)
	if err != nil {
		b.Fatal(err)
	}
	parallel(b, listRepositories, func(i int) error {
		repository, err := name.NewRepository(fmt.Sprintf("%s/%s/repo-%03d", plane.RegistryHost, namespace, i))
		if err != nil {
			return err
		}
		if err := remote.Write(repository.Tag("t00"), image, options...); err != nil {
			return err
		}
		for tag := 1; tag < listTags; tag++ {
			if err := remote.Tag(repository.Tag(fmt.Sprintf("t%02d", tag)), image, options...); err != nil {
				return err
			}
		}
		return nil
	})

	archon, err := archonclient.NewForConfig(plane.AdminConfig())
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		list, err := archon.RegistryV1().Images(namespace).List(ctx, metav1.ListOptions{})
		complete := err == nil && len(list.Items) == listRepositories
		for i := 0; complete && i < len(list.Items); i++ {
			complete = len(list.Items[i].Status.Tags) == listTags
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the catalog did not reach %d repositories of %d tags: %v", listRepositories, listTags, err)
		}
		time.Sleep(time.Second)
	}
	waitForQuiet(b)

	api = latencies(imageListSamples*5, func() error {
		_, err := archon.RegistryV1().Images(namespace).List(ctx, metav1.ListOptions{})
		return err
	})
	cacheDir := b.TempDir()
	runKubectl := func() error {
		cmd := exec.Command(filepath.Join(binDir, "kubectl"), "--kubeconfig", plane.KubeconfigPath, "--cache-dir", cacheDir, "get", "images", "-n", namespace)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return err
		}
		if lines := strings.Count(out.String(), "\n"); lines != listRepositories+1 {
			return fmt.Errorf("kubectl get images printed %d lines", lines)
		}
		return nil
	}
	if err := runKubectl(); err != nil { // warms kubectl's discovery cache
		b.Fatal(err)
	}
	kubectl = latencies(imageListSamples, runKubectl)
	if api.err != nil || kubectl.err != nil {
		b.Fatal(api.err, kubectl.err)
	}
	return api, kubectl
}

// localTransport trusts the local control plane's CA, which certifies the
// registry and archon.
func localTransport(b *testing.B, plane *localplane.Plane) *http.Transport {
	caPEM, err := os.ReadFile(plane.RegistryCA())
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	transport := remote.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots}
	return transport
}
