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
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/acp-archon/archon/internal/localplane"
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
