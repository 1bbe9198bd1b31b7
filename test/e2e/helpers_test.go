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

// The helpers every test of the package shares: contexts, polling,
// clients acting as a user, kubectl, namespaces and archon restarts.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

const (
	// stepTimeout bounds a short test, or one step of a long one: on a
	// loaded machine a single context for many steps runs out mid-test,
	// and the failure then looks like a product bug.
	stepTimeout = 2 * time.Minute
	// longTestTimeout bounds a test of many polled steps as a whole.
	longTestTimeout = 5 * time.Minute
	// eventuallyTimeout is how long eventually waits for the cluster to
	// settle: informers, RBAC caches and controllers.
	eventuallyTimeout = 30 * time.Second
	pollInterval      = 200 * time.Millisecond
)

// archonIdentity is who archon is to kube-apiserver.
const archonIdentity = "system:serviceaccount:archon-system:archon-apiserver"

// testContext returns a context that ends after stepTimeout or with the
// test, whichever comes first. Long tests take one per step.
func testContext(t *testing.T) context.Context {
	t.Helper()
	return contextFor(t, stepTimeout)
}

// longTestContext returns a context that ends after longTestTimeout or
// with the test, for a test of many steps that share their objects.
func longTestContext(t *testing.T) context.Context {
	t.Helper()
	return contextFor(t, longTestTimeout)
}

func contextFor(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually retries check until it returns nil, and fails the test with
// check's last error when eventuallyTimeout passes first.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	eventuallyWithin(t, eventuallyTimeout, what, check)
}

// eventuallyWithin is eventually with its own timeout.
func eventuallyWithin(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, timeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, last)
	}
}

func adminConfig(t *testing.T) *rest.Config {
	t.Helper()
	return plane.AdminConfig()
}

func archonClient(t *testing.T, config *rest.Config) archonclient.Interface {
	t.Helper()
	client, err := archonclient.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func kubeClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(adminConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// mustKubeconfig writes a kubeconfig for the user name in groups and
// returns its path.
func mustKubeconfig(t *testing.T, name string, groups ...string) string {
	t.Helper()
	kubeconfig, err := plane.UserKubeconfig(name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

func userConfig(t *testing.T, name string, groups ...string) *rest.Config {
	t.Helper()
	config, err := clientcmd.BuildConfigFromFlags("", mustKubeconfig(t, name, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return config
}

// clientAs is an archon clientset acting as the user name in groups.
func clientAs(t *testing.T, name string, groups ...string) archonclient.Interface {
	t.Helper()
	return archonClient(t, userConfig(t, name, groups...))
}

// kubeClientAs is a clientset acting as the user name in groups.
func kubeClientAs(t *testing.T, name string, groups ...string) kubernetes.Interface {
	t.Helper()
	client, err := kubernetes.NewForConfig(userConfig(t, name, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// kubectl runs the kubectl built from k8s.io/kubectl with a kubeconfig and
// returns its standard output; stdin may be empty.
func kubectl(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("ARCHON_BIN_DIR"), "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// adminKubectl runs kubectl as cluster admin and fails the test on error.
func adminKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, plane.KubeconfigPath, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// canIAs answers kubectl auth can-i for a kubeconfig: "yes" or "no".
func canIAs(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, _ := kubectl(t, kubeconfig, "", append([]string{"auth", "can-i"}, args...)...)
	return strings.TrimSpace(out)
}

// createNamespaces makes namespaces outside any project.
func createNamespaces(t *testing.T, names ...string) {
	t.Helper()
	kube := kubeClient(t)
	for _, name := range names {
		if _, err := kube.CoreV1().Namespaces().Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// stopArchon stops archon-apiserver, leaving kube-apiserver up, and
// returns a function that starts it again. Archon runs again when the test
// ends even if the test fails first: every later test needs it.
func stopArchon(t *testing.T) (start func()) {
	t.Helper()
	plane.StopArchon()
	t.Cleanup(func() {
		if plane.ArchonPID() != 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		if err := plane.StartArchon(ctx); err != nil {
			t.Errorf("starting archon again after the test: %v", err)
		}
	})
	return func() {
		t.Helper()
		if err := plane.StartArchon(testContext(t)); err != nil {
			t.Fatalf("starting archon again: %v", err)
		}
	}
}

// restartArchon stops archon-apiserver and starts it again.
func restartArchon(t *testing.T) {
	t.Helper()
	stopArchon(t)()
}

func subjectNames(subjects []rbacv1.Subject) string {
	var names []string
	for _, s := range subjects {
		names = append(names, s.Kind+":"+s.Name)
	}
	return strings.Join(names, ",")
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
