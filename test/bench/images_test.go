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
	bigImageMiB = 100
	// minTransferRounds and maxTransferRounds bound the rounds of push and
	// pull: the rounds go on past the minimum until each target is
	// decided (see transferDecided).
	minTransferRounds = 7
	maxTransferRounds = 21
	tokenSamples      = 500
	listTags          = 20
	imageListSamples  = 20

	// transferLimit is the most a push or pull through archon's token
	// service may take over the same without authentication, as the median
	// of the rounds' ratios.
	transferLimit = 1.1
	// kubectlListLimit is the p50 within which kubectl lists the images
	// of a namespace of many repositories.
	kubectlListLimit = 300 * time.Millisecond
)

var listRepositories = scaled(500, 10)

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
	mustQuiet(b)
	push, pull := transfers(b, crane, image, [2]string{plane.RegistryHost, openHost})

	cold, cached, coldRate, cachedRate := tokenIssuance(b, plane, token)
	apiList, kubectlList := imageLists(ctx, b, plane, kube, binDir)

	v := &verdicts{b: b}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nImages: %d MiB image with crane, %d rounds alternating which registry goes first; %d token requests; a namespace of %d repositories x %d tags%s\n",
		bigImageMiB, push.rounds(), tokenSamples, listRepositories, listTags, scaleNote())
	fmt.Fprintln(w, "measure\tn\tarchon (token auth) min/median/max\tno auth min/median/max\tratio min/median/max\ttarget\tverdict\t")
	kinds := []struct {
		what string
		transfer
	}{{"push", push}, {"pull", pull}}
	for _, t := range kinds {
		fmt.Fprintf(w, "%s %d MiB\t%d\t%s\t%s\t%s\t%s\t\n", t.what, bigImageMiB, t.rounds(), spread(t.times[0]), spread(t.times[1]), t.ratioSpread(),
			v.ratio(t.what+" archon/no auth, median of the rounds' ratios", t.ratio(), transferLimit, t.rounds()))
	}
	for _, t := range kinds {
		if !t.decided(transferLimit) {
			fmt.Fprintf(w, "(%s: after %d rounds the limit still lies within the middle half of the rounds' ratios; the verdict is on the median)\n", t.what, t.rounds())
		}
	}
	fmt.Fprintln(w, "\t\t\t\t\t\t\t")
	fmt.Fprintln(w, "measure\tn\tp50\tp99\treq/s\ttarget\tverdict\t")
	fmt.Fprintf(w, "token, decision not cached\t%d\t%s\t%s\t%.0f\t\t\t\n", cold.n(), cold.p(50), cold.p(99), coldRate)
	fmt.Fprintf(w, "token, decision cached\t%d\t%s\t%s\t%.0f\t\t\t\n", cached.n(), cached.p(50), cached.p(99), cachedRate)
	fmt.Fprintf(w, "list images (API, %d x %d)\t%d\t%s\t%s\t\t\t\t\n", listRepositories, listTags, apiList.n(), apiList.p(50), apiList.p(99))
	fmt.Fprintf(w, "kubectl get images (warm)\t%d\t%s\t%s\t\t%s\t\n", kubectlList.n(), kubectlList.p(50), kubectlList.p(99),
		v.latency("kubectl get images", kubectlList.p(50), kubectlListLimit))
	w.Flush()
	v.report(os.Stdout)

	b.ReportMetric(push.ratio(), "push-auth/noauth")
	b.ReportMetric(pull.ratio(), "pull-auth/noauth")
	b.ReportMetric(kubectlList.p(50).ms(), "kubectl-get-images-p50-ms")
}

// transfer is one kind of transfer (push or pull) timed against archon's
// registry and the open one, round by round.
type transfer struct {
	// times holds archon's times and the open registry's.
	times [2]timings
	// ratios holds each round's archon time over the open registry's: the
	// two transfers of a round ran back to back, under the same load.
	ratios []float64
}

func (t *transfer) addRound(archon, open time.Duration) {
	t.times[0] = t.times[0].add(archon)
	t.times[1] = t.times[1].add(open)
	t.ratios = append(t.ratios, float64(archon)/float64(open))
	sort.Float64s(t.ratios)
}

func (t transfer) rounds() int { return len(t.ratios) }

// ratio is the median of the rounds' ratios.
func (t transfer) ratio() float64 { return t.ratios[len(t.ratios)/2] }

func (t transfer) ratioSpread() string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", t.ratios[0], t.ratio(), t.ratios[len(t.ratios)-1])
}

// decided says whether the rounds so far put the limit outside the middle
// half of the rounds' ratios, so that a few more rounds could not move
// the median across it.
func (t transfer) decided(limit float64) bool {
	n := len(t.ratios)
	q1, q3 := t.ratios[n/4], t.ratios[(3*n)/4]
	return limit < q1 || limit > q3
}

func spread(t timings) string {
	return fmt.Sprintf("%s / %s / %s", t.sorted[0].Round(time.Millisecond), t.p(50).value.Round(time.Millisecond), t.sorted[t.n()-1].Round(time.Millisecond))
}

// transfers pushes and pulls image through hosts[0], archon's registry,
// and hosts[1], the open one, in rounds that swap which goes first, until
// both ratios are decided or maxTransferRounds is reached. Disk and page
// cache make single transfers vary by tens of percent on this kind of
// machine; paired rounds let the ratio see through it.
func transfers(b *testing.B, crane craneRunner, image string, hosts [2]string) (push, pull transfer) {
	for round := 0; round < maxTransferRounds; round++ {
		if round >= minTransferRounds && push.decided(transferLimit) && pull.decided(transferLimit) {
			break
		}
		order := [2]int{0, 1}
		if round%2 == 1 {
			order = [2]int{1, 0}
		}
		var pushed, pulled [2]time.Duration
		for _, i := range order {
			ref := fmt.Sprintf("%s/bench-images/big-%d:v1", hosts[i], round)
			pushed[i] = timeIt(func() { crane.run(b, "push", image, ref) })
			out := filepath.Join(b.TempDir(), "pulled.tar")
			pulled[i] = timeIt(func() { crane.run(b, "pull", ref, out) })
			os.Remove(out)
		}
		push.addRound(pushed[0], pushed[1])
		pull.addRound(pulled[0], pulled[1])
	}
	return push, pull
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
	mustQuiet(b)

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
