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

// Package localplane runs a complete control plane on 127.0.0.1: an
// embedded etcd, kube-apiserver and archon-apiserver registered through an
// APIService. "make run" and the end-to-end tests both start it from here.
package localplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/acp-archon/archon/pkg/embeddedetcd"
)

const (
	// readyTimeout bounds each wait for a component to become ready.
	readyTimeout = 3 * time.Minute
	// stopGrace is how long a component may take to exit on SIGTERM.
	// kube-apiserver waits for open aggregated watches far longer than this.
	stopGrace = 5 * time.Second

	archonServiceAccount = "system:serviceaccount:archon-system:archon-apiserver"
	adminUser            = "archon-local-admin"
)

// Options say where the plane keeps its state and finds its binaries.
type Options struct {
	// Dir holds PKI, etcd data, logs, kubeconfigs and the env file. State in
	// it survives restarts.
	Dir string
	// BinDir holds the kube-apiserver and archon-apiserver binaries.
	BinDir string
	// Log receives progress lines; components log to Dir/logs.
	Log io.Writer
	// ChartRepoAllowedAddresses are loopback addresses (IP:port) remote
	// chart repositories may be read from besides the platform registry,
	// such as a test's repository server; archon refuses every other.
	ChartRepoAllowedAddresses []string
}

// Plane is a running local control plane.
type Plane struct {
	opts Options
	lock *os.File
	pki  *pki

	etcd              *embeddedetcd.Server
	kubeAPIServer     *process
	controllerManager *process
	archon            *process
	registry          *process

	// KubeconfigPath is a cluster-admin kubeconfig.
	KubeconfigPath string
	// KubeAPIServerURL and ArchonURL are the servers' addresses.
	KubeAPIServerURL string
	ArchonURL        string
	// RegistryHost is the container registry's host:port.
	RegistryHost string
	// EnvPath is the file a shell sources to use the plane.
	EnvPath string

	archonPort   int
	registryPort int
	admin        *rest.Config
}

// Start brings every component up and returns once archon's APIService is
// Available. On error everything already started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Plane, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if opts.BinDir, err = filepath.Abs(opts.BinDir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"logs", "pki", "users"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}

	p := &Plane{
		opts:           opts,
		KubeconfigPath: filepath.Join(dir, "kubeconfig"),
		EnvPath:        filepath.Join(dir, "env"),
	}
	if p.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()

	if p.pki, err = loadOrCreatePKI(filepath.Join(dir, "pki")); err != nil {
		return nil, fmt.Errorf("preparing certificates: %w", err)
	}
	// archon's address comes first: kube-apiserver's admission
	// configuration names it.
	if p.archonPort, err = freePort(); err != nil {
		return nil, err
	}
	p.ArchonURL = "https://127.0.0.1:" + strconv.Itoa(p.archonPort)
	p.logf("Starting etcd for kube-apiserver")
	if p.etcd, err = embeddedetcd.Start(ctx, filepath.Join(dir, "kube-etcd")); err != nil {
		return nil, err
	}
	if err := p.startKubeAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := p.startControllerManager(); err != nil {
		return nil, err
	}
	if err := p.installArchon(ctx); err != nil {
		return nil, err
	}
	if err := p.startRegistry(ctx); err != nil {
		return nil, err
	}
	if err := p.StartArchon(ctx); err != nil {
		return nil, err
	}
	if err := p.writeEnv(); err != nil {
		return nil, err
	}
	return p, nil
}

// Stop stops every component the plane started, archon first.
func (p *Plane) Stop() {
	p.StopArchon()
	p.StopRegistry()
	if p.controllerManager != nil {
		p.controllerManager.stop(stopGrace)
	}
	if p.kubeAPIServer != nil {
		p.kubeAPIServer.stop(stopGrace)
	}
	if p.etcd != nil {
		p.etcd.Stop()
	}
	if p.lock != nil {
		_ = os.Remove(filepath.Join(p.opts.Dir, "pid"))
		p.lock.Close()
	}
}

// StopArchon stops archon-apiserver alone, leaving kube-apiserver up.
func (p *Plane) StopArchon() {
	if p.archon != nil {
		p.archon.stop(stopGrace)
		p.archon = nil
	}
}

// ArchonPID is the process id of the running archon-apiserver, 0 if none.
func (p *Plane) ArchonPID() int {
	if p.archon == nil {
		return 0
	}
	return p.archon.cmd.Process.Pid
}

// AdminConfig returns a cluster-admin client configuration.
func (p *Plane) AdminConfig() *rest.Config {
	return rest.CopyConfig(p.admin)
}

// Exited is closed when a component stops by itself; the plane is then no
// longer usable.
func (p *Plane) Exited() <-chan struct{} {
	exited := make(chan struct{})
	kube, controllers, archon := p.kubeAPIServer, p.controllerManager, p.archon
	go func() {
		select {
		case <-kube.exited:
		case <-controllers.exited:
		case <-archon.exited:
		}
		close(exited)
	}()
	return exited
}

// startControllerManager runs the kube-controller-manager controllers the
// platform relies on: ClusterRole aggregation (archon's roles aggregate
// Kubernetes' admin/edit/view), namespace deletion, ServiceAccounts and
// their tokens, garbage collection and quota usage.
func (p *Plane) startControllerManager() error {
	kubeconfig := filepath.Join(p.opts.Dir, "kube-controller-manager.kubeconfig")
	if err := p.writeKubeconfig(kubeconfig, "system:kube-controller-manager", []string{"system:masters"}); err != nil {
		return err
	}
	p.logf("Starting kube-controller-manager")
	var err error
	p.controllerManager, err = startProcess("kube-controller-manager", filepath.Join(p.opts.BinDir, "kube-controller-manager"),
		filepath.Join(p.opts.Dir, "logs", "kube-controller-manager.log"),
		"--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--controllers="+strings.Join(controllerManagerControllers, ","),
		"--service-account-private-key-file="+p.pki.serviceAccountKey,
		"--root-ca-file="+p.pki.servingCA,
	)
	return err
}

var controllerManagerControllers = []string{
	"clusterrole-aggregation-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"garbage-collector-controller",
	"resourcequota-controller",
	"root-ca-certificate-publisher-controller",
}

func (p *Plane) startKubeAPIServer(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	p.KubeAPIServerURL = "https://127.0.0.1:" + strconv.Itoa(port)
	pki := p.pki
	admissionConfig, err := p.writeAdmissionConfig()
	if err != nil {
		return err
	}
	p.logf("Starting kube-apiserver on %s", p.KubeAPIServerURL)
	p.kubeAPIServer, err = startProcess("kube-apiserver", filepath.Join(p.opts.BinDir, "kube-apiserver"),
		filepath.Join(p.opts.Dir, "logs", "kube-apiserver.log"),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		// A loopback advertise address is refused by the default reconciler.
		"--endpoint-reconciler-type=none",
		"--etcd-servers="+p.etcd.ClientURL,
		"--cert-dir="+filepath.Join(p.opts.Dir, "kube-apiserver"),
		"--tls-cert-file="+pki.kubeAPIServerCert,
		"--tls-private-key-file="+pki.kubeAPIServerKey,
		"--client-ca-file="+pki.clientCA,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pki.serviceAccountPublicKey,
		"--service-account-signing-key-file="+pki.serviceAccountKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--requestheader-client-ca-file="+pki.frontProxyCA,
		"--requestheader-allowed-names="+frontProxyClientName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+pki.frontProxyClientCert,
		"--proxy-client-key-file="+pki.frontProxyClientKey,
		"--admission-control-config-file="+admissionConfig,
	)
	if err != nil {
		return err
	}

	if err := p.writeKubeconfig(p.KubeconfigPath, adminUser, []string{"system:masters"}); err != nil {
		return err
	}
	if p.admin, err = clientcmd.BuildConfigFromFlags("", p.KubeconfigPath); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(p.admin)
	if err != nil {
		return err
	}
	return p.waitFor(ctx, p.kubeAPIServer, "kube-apiserver to be ready", func(ctx context.Context) (bool, error) {
		err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		return err == nil, nil
	})
}

// admissionConfigTemplate makes kube-apiserver present a client
// certificate to admission webhooks, found by the webhook's host:port in
// the kubeconfig: archon serves nothing without credentials.
const admissionConfigTemplate = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
`

// writeAdmissionConfig writes kube-apiserver's admission configuration
// and the kubeconfig it names, and returns the configuration's path.
func (p *Plane) writeAdmissionConfig() (string, error) {
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.AuthInfos["localhost:"+strconv.Itoa(p.archonPort)] = &clientcmdapi.AuthInfo{
		ClientCertificate: p.pki.admissionClientCert, ClientKey: p.pki.admissionClientKey,
	}
	kubeconfigPath := filepath.Join(p.opts.Dir, "admission-webhooks.kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, kubeconfigPath); err != nil {
		return "", err
	}
	configPath := filepath.Join(p.opts.Dir, "admission-config.yaml")
	return configPath, os.WriteFile(configPath, []byte(fmt.Sprintf(admissionConfigTemplate, kubeconfigPath)), 0o644)
}

// waitFor polls until ready, the process exits or the timeout passes.
func (p *Plane) waitFor(ctx context.Context, proc *process, what string, ready wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, readyTimeout, true, func(ctx context.Context) (bool, error) {
		if err := proc.exitError(); err != nil {
			return false, err
		}
		return ready(ctx)
	})
	if err != nil && proc.exitError() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out waiting for %s; see %s", what, proc.logPath)
	}
	return err
}

// writeKubeconfig writes a kubeconfig for user, authenticated by a client
// certificate from the local client CA.
func (p *Plane) writeKubeconfig(path, user string, groups []string) error {
	certPEM, keyPEM, err := p.pki.clientAuthority.issue(certRequest{
		commonName: user, organizations: groups, usage: x509.ExtKeyUsageClientAuth,
	})
	if err != nil {
		return err
	}
	return writeKubeconfigFile(path, p.KubeAPIServerURL, p.pki.servingAuthority.CertPEM, user, certPEM, keyPEM)
}

func writeKubeconfigFile(path, server string, caPEM []byte, user string, certPEM, keyPEM []byte) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["archon-local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	config.Contexts[user+"@archon-local"] = &clientcmdapi.Context{Cluster: "archon-local", AuthInfo: user}
	config.CurrentContext = user + "@archon-local"
	return clientcmd.WriteToFile(*config, path)
}

func (p *Plane) writeEnv() error {
	env := fmt.Sprintf(`# Written by the archon local control plane; source it: . %s
export KUBECONFIG=%s
export KUBE_APISERVER_URL=%s
export ARCHON_URL=%s
export ARCHON_CA=%s
export ETCD_URL=%s
export REGISTRY=%s
export REGISTRY_CA=%s
`, p.EnvPath, p.KubeconfigPath, p.KubeAPIServerURL, p.ArchonURL, p.pki.servingCA, p.etcd.ClientURL, p.RegistryHost, p.pki.servingCA)
	return os.WriteFile(p.EnvPath, []byte(env), 0o644)
}

func (p *Plane) logf(format string, args ...any) {
	fmt.Fprintf(p.opts.Log, format+"\n", args...)
}

// lockDir makes sure only one plane uses dir at a time. The lock dies with
// the process, so a crashed plane never blocks the next start.
func lockDir(dir string) (*os.File, error) {
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		pid, _ := os.ReadFile(filepath.Join(dir, "pid"))
		return nil, fmt.Errorf("a local control plane is already running in %s (pid %s): use it (. %s) or stop it first",
			dir, strings.TrimSpace(string(pid)), filepath.Join(dir, "env"))
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		lock.Close()
		return nil, err
	}
	return lock, nil
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}
