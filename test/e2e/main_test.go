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

// Package e2e drives archon through a real kube-apiserver with the clients
// users have: a kubectl built from k8s.io/kubectl and the generated typed
// clientset. TestMain starts the same local control plane as "make run".
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/acp-archon/archon/internal/localplane"
	archonclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned"
)

// plane is the control plane every test of the package shares.
var plane *localplane.Plane

// repositoryServer is a remote chart repository on loopback for the
// tests, over TLS; archon is allowed to read from it, and from no other
// loopback address but the registry. Tests add handlers to its mux.
var (
	repositoryServer *httptest.Server
	repositoryMux    = http.NewServeMux()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binDir := os.Getenv("ARCHON_BIN_DIR")
	if binDir == "" {
		fmt.Fprintln(os.Stderr, "ARCHON_BIN_DIR is not set: run the suite with 'make e2e', which builds the binaries it needs")
		return 1
	}
	dir, err := os.MkdirTemp("", "archon-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repositoryServer = httptest.NewTLSServer(repositoryMux)
	defer repositoryServer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	plane, err = localplane.Start(ctx, localplane.Options{Dir: dir, BinDir: binDir, Log: os.Stdout,
		ChartRepoAllowedAddresses: []string{repositoryServer.Listener.Addr().String()}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local control plane: %v\n", err)
		return 1
	}
	code := m.Run()
	plane.Stop()
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "control plane state and logs kept in %s\n", dir)
	}
	return code
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

// kubectl runs the kubectl built from k8s.io/kubectl with a kubeconfig and
// returns its standard output; stdin may be empty.
func kubectl(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(os.Getenv("ARCHON_BIN_DIR"), "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
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

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
