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
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// tokenKubeconfig writes a kubeconfig that authenticates with the user's
// token, as a CI system's kubeconfig does.
func tokenKubeconfig(t *testing.T, u registryUser) string {
	t.Helper()
	caPEM, err := os.ReadFile(plane.RegistryCA())
	if err != nil {
		t.Fatal(err)
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["local"] = &clientcmdapi.Cluster{Server: plane.KubeAPIServerURL, CertificateAuthorityData: caPEM}
	config.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: u.token}
	config.Contexts["user"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	config.CurrentContext = "user"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlACP runs "kubectl acp" through kubectl's plugin lookup, with the
// built kubectl-acp first on PATH.
func kubectlACP(t *testing.T, kubeconfig, dockerConfig string, args ...string) (string, error) {
	t.Helper()
	binDir := os.Getenv("ARCHON_BIN_DIR")
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), append([]string{"acp"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "KUBECONFIG="+kubeconfig,
		"DOCKER_CONFIG="+dockerConfig, "REGISTRY_CA="+plane.RegistryCA(), "REGISTRY="+plane.RegistryHost)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl acp %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func TestKubectlACP(t *testing.T) {
	createNamespaces(t, "acp-a", "acp-b")
	pusher := serviceAccountUser(t, "acp-a", "pusher")
	puller := serviceAccountUser(t, "acp-a", "puller")
	outsider := serviceAccountUser(t, "acp-b", "outsider")
	bindRole(t, "acp-a", "pusher", "system:image-pusher", "acp-a", "pusher")
	bindRole(t, "acp-a", "puller", "system:image-puller", "acp-a", "puller")
	if err := pusher.push(t, "acp-a/base:v1", "base"); err != nil {
		t.Fatal(err)
	}
	registry := plane.RegistryHost
	pusherConfig, pullerConfig, outsiderConfig := tokenKubeconfig(t, pusher), tokenKubeconfig(t, puller), tokenKubeconfig(t, outsider)
	tarball := filepath.Join(t.TempDir(), "base.tar")

	if out, err := kubectlACP(t, pusherConfig, pusher.dockerConfig, "pull", registry+"/acp-a/base:v1", "-o", tarball); err != nil || !strings.Contains(out, "Pulled") {
		t.Fatalf("pull: %q %v", out, err)
	}
	if _, err := kubectlACP(t, pusherConfig, pusher.dockerConfig, "push", registry+"/acp-a/app:v1", "--from", tarball); err != nil {
		t.Fatalf("push --from a tarball: %v", err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if err := pusher.crane(t, "pull", "--format=oci", registry+"/acp-a/base:v1", layout); err != nil {
		t.Fatal(err)
	}
	if _, err := kubectlACP(t, pusherConfig, pusher.dockerConfig, "push", registry+"/acp-a/from-layout:v1", "--from", layout); err != nil {
		t.Fatalf("push --from an OCI layout: %v", err)
	}
	if _, err := kubectlACP(t, pusherConfig, pusher.dockerConfig, "push", registry+"/acp-a/app:v1", registry+"/acp-a/copy:v1"); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if err := puller.pull(t, "acp-a/copy:v1"); err != nil {
		t.Errorf("the copy cannot be pulled: %v", err)
	}

	t.Run("missing permissions are named before anything moves", func(t *testing.T) {
		if _, err := kubectlACP(t, pullerConfig, puller.dockerConfig, "pull", registry+"/acp-a/app:v1", "-o", filepath.Join(t.TempDir(), "x.tar")); err != nil {
			t.Errorf("a puller cannot pull: %v", err)
		}
		_, err := kubectlACP(t, pullerConfig, puller.dockerConfig, "push", registry+"/acp-a/app:v2", "--from", tarball)
		if err == nil || !strings.Contains(err.Error(), `namespace "acp-a"`) || !strings.Contains(err.Error(), "update") {
			t.Errorf("a puller's push: %v", err)
		}
		// Nothing moved: the tag the refused push names does not exist.
		expectRegistryRefusal(t, "a pull of the tag a refused push names", pusher.pull(t, "acp-a/app:v2"), "MANIFEST_UNKNOWN")
		_, err = kubectlACP(t, outsiderConfig, outsider.dockerConfig, "pull", registry+"/acp-a/app:v1")
		if err == nil || !strings.Contains(err.Error(), `namespace "acp-a"`) || !strings.Contains(err.Error(), "get") {
			t.Errorf("an outsider's pull: %v", err)
		}
		_, err = kubectlACP(t, plane.KubeconfigPath, t.TempDir(), "pull", registry+"/no-such-namespace/app:v1")
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("an unknown namespace: %v", err)
		}
		_, err = kubectlACP(t, pullerConfig, puller.dockerConfig, "pull", "elsewhere.example.com/acp-a/app:v1")
		if err == nil || !strings.Contains(err.Error(), "not the platform's registry") {
			t.Errorf("another registry: %v", err)
		}
		_, err = kubectlACP(t, pullerConfig, puller.dockerConfig, "pull", registry+"/Not/A:Reference")
		if err == nil || !strings.Contains(err.Error(), "reference") {
			t.Errorf("a bad reference: %v", err)
		}
	})

	t.Run("login stores credentials registry clients use", func(t *testing.T) {
		dockerConfig := t.TempDir()
		// The stored credential is the user's Kubernetes token: no other
		// registry may have it.
		if _, err := kubectlACP(t, pullerConfig, dockerConfig, "login", "elsewhere.example.com"); err == nil || !strings.Contains(err.Error(), "not the platform's registry") {
			t.Errorf("login to another registry: %v", err)
		}
		out, err := kubectlACP(t, pullerConfig, dockerConfig, "login", registry)
		if err != nil || !strings.Contains(out, "system:serviceaccount:acp-a:puller") {
			t.Fatalf("login: %q %v", out, err)
		}
		crane := registryUser{dockerConfig: dockerConfig}
		if err := crane.pull(t, "acp-a/app:v1"); err != nil {
			t.Errorf("crane with the stored credentials: %v", err)
		}
	})

	t.Run("a client certificate works without login", func(t *testing.T) {
		if _, err := kubectlACP(t, plane.KubeconfigPath, t.TempDir(), "pull", registry+"/acp-a/app:v1", "-o", filepath.Join(t.TempDir(), "x.tar")); err != nil {
			t.Errorf("pull as the certificate admin: %v", err)
		}
		_, err := kubectlACP(t, plane.KubeconfigPath, t.TempDir(), "login", registry)
		if err == nil || !strings.Contains(err.Error(), "--token") {
			t.Errorf("login with a certificate: %v", err)
		}
	})
}
