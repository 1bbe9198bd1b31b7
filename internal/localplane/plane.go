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
// embedded etcd, kube-apiserver with its controllers and scheduler, nodes
// simulated by kwok, a container registry, and archon-apiserver registered
// through APIServices. "make run" and the end-to-end tests both start it
// from here.
package localplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
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
	// bindAttempts bounds how often a server is started again because
	// another process bound its port in the moment between the plane
	// letting go of the port and the server binding it.
	bindAttempts = 3

	archonServiceAccount = "system:serviceaccount:archon-system:archon-apiserver"
	adminUser            = "archon-local-admin"
)

// Options say where the plane keeps its state and finds its binaries.
type Options struct {
	// Dir holds PKI, etcd data, logs, kubeconfigs and the env file. State in
	// it survives restarts.
	Dir string
	// BinDir holds the binaries the plane runs: kube-apiserver,
	// kube-controller-manager, kube-scheduler, kwok, registry and
	// archon-apiserver.
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
	opts   Options
	layout *layout
	lock   *os.File
	pki    *pki

	etcd              *embeddedetcd.Server
	kubeAPIServer     *process
	controllerManager *process
	scheduler         *process
	kwok              *process
	archon            *process
	registry          *process
	// registryStarted is set once archon was told the registry's port.
	registryStarted bool

	// KubeconfigPath is a cluster-admin kubeconfig.
	KubeconfigPath string
	// KubeAPIServerURL and ArchonURL are the servers' addresses.
	KubeAPIServerURL string
	ArchonURL        string
	// RegistryHost is the container registry's host:port.
	RegistryHost string
	// EnvPath is the file a shell sources to use the plane.
	EnvPath string

	// Clients of kube-apiserver as cluster admin, built once it is up.
	admin   *rest.Config
	kube    kubernetes.Interface
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
	// apiServices are archon's APIServices, registered once archon answers.
	apiServices []*unstructured.Unstructured

	// stopping is set when Stop begins: components ending after that did
	// not crash.
	stopping   atomic.Bool
	exited     chan struct{}
	exitedOnce sync.Once
}

// Start brings every component up and returns once archon's APIServices
// are Available. On error everything already started is stopped again.
//
// Ports are chosen first (the layout); then etcd and kube-apiserver start,
// then everything that needs only kube-apiserver starts at once:
// kube-controller-manager, kube-scheduler, kwok and its Nodes, the registry,
// and archon's manifests. archon starts last, since it needs the registry
// and its RBAC.
func Start(ctx context.Context, opts Options) (_ *Plane, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	l, err := newLayout(opts.Dir, opts.BinDir)
	if err != nil {
		return nil, err
	}
	opts.Dir, opts.BinDir = l.dir, l.binDir
	p := &Plane{
		opts:           opts,
		layout:         l,
		KubeconfigPath: l.adminKubeconfig(),
		EnvPath:        l.envPath(),
		ArchonURL:      l.archonURL(),
		exited:         make(chan struct{}),
	}
	if p.lock, err = lockDir(l.dir); err != nil {
		l.release()
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()

	if p.pki, err = loadOrCreatePKI(l.path("pki")); err != nil {
		return nil, fmt.Errorf("preparing certificates: %w", err)
	}
	p.logf("Starting etcd for kube-apiserver")
	if p.etcd, err = embeddedetcd.Start(ctx, l.path("kube-etcd")); err != nil {
		return nil, err
	}
	go p.watch(p.etcd.Done())
	if err := p.startKubeAPIServer(ctx); err != nil {
		return nil, err
	}
	if err := p.connect(); err != nil {
		return nil, err
	}

	group, groupCtx := errgroup.WithContext(ctx)
	group.Go(p.startScheduler)
	group.Go(func() error { return p.startSimulatedNodes(groupCtx) })
	group.Go(func() error { return p.startRegistry(groupCtx) })
	// The garbage collector must know the CRDs from its start (see
	// waitForCRDs).
	group.Go(func() error {
		if err := p.installArchon(groupCtx); err != nil {
			return err
		}
		return p.startControllerManager()
	})
	if err := group.Wait(); err != nil {
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
	p.stopping.Store(true)
	p.stopArchon()
	p.stopRegistry()
	for _, proc := range []*process{p.kwok, p.scheduler, p.controllerManager, p.kubeAPIServer} {
		if proc != nil {
			proc.stop(stopGrace)
		}
	}
	if p.etcd != nil {
		p.etcd.Stop()
	}
	p.layout.release()
	if p.lock != nil {
		_ = os.Remove(p.layout.path("pid"))
		p.lock.Close()
	}
}

// AdminConfig returns a cluster-admin client configuration.
func (p *Plane) AdminConfig() *rest.Config {
	return rest.CopyConfig(p.admin)
}

// Exited is closed when a component stops by itself (etcd,
// kube-apiserver, its controllers or scheduler, kwok, the registry or
// archon); the plane is then no longer usable. Components the plane is
// asked to stop do not close it.
func (p *Plane) Exited() <-chan struct{} {
	return p.exited
}

// watch closes Exited when done is closed while the plane is not
// stopping: call it once a component is up, with the channel its end
// closes.
func (p *Plane) watch(done <-chan struct{}) {
	<-done
	if !p.stopping.Load() {
		p.exitedOnce.Do(func() { close(p.exited) })
	}
}

// watchProcess is watch for a process, which the plane may also stop
// alone (archon, the registry).
func (p *Plane) watchProcess(proc *process) {
	go func() {
		<-proc.exited
		if !proc.stopping.Load() && !p.stopping.Load() {
			p.exitedOnce.Do(func() { close(p.exited) })
		}
	}()
}

// startOn starts a server that binds port and waits until it is ready. If
// the server exits because another process took the port first, it is
// started again: on a fresh port if movable (nothing running was told the
// port yet), on the same port once the plane holds it again otherwise.
// start reads the port when called, so a moved port reaches its flags.
func (p *Plane) startOn(ctx context.Context, port *port, movable bool, what string, start func() (*process, error), ready wait.ConditionWithContextFunc) (*process, error) {
	for attempt := 1; ; attempt++ {
		port.handOver()
		proc, err := start()
		if err != nil {
			return nil, err
		}
		err = p.waitFor(ctx, proc, what, ready)
		if err == nil {
			p.watchProcess(proc)
			return proc, nil
		}
		proc.stop(stopGrace)
		if !proc.lostPort() || attempt == bindAttempts {
			return nil, err
		}
		p.logf("Another process took %s before %s bound it; starting %s again", port.hostPort(), proc.name, proc.name)
		if movable {
			err = port.moveTo()
		} else {
			err = port.takeBack(ctx)
		}
		if err != nil {
			return nil, err
		}
	}
}

// startKubeAPIServer starts kube-apiserver and waits until it is ready.
// Its port may still move here: clients learn it only in connect.
func (p *Plane) startKubeAPIServer(ctx context.Context) error {
	admissionConfig, err := p.writeAdmissionConfig()
	if err != nil {
		return err
	}
	l := p.layout
	client := &http.Client{Transport: p.servingCATransport(), Timeout: 2 * time.Second}
	p.kubeAPIServer, err = p.startOn(ctx, l.kubeAPIServer, true, "kube-apiserver to be ready", func() (*process, error) {
		p.logf("Starting kube-apiserver on %s", l.kubeAPIServerURL())
		return p.runKubeAPIServer(admissionConfig)
	}, func(ctx context.Context) (bool, error) {
		// /readyz is public: kube-apiserver's bootstrap RBAC lets anyone read it.
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.kubeAPIServerURL()+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return err
}

func (p *Plane) runKubeAPIServer(admissionConfig string) (*process, error) {
	l, pki := p.layout, p.pki
	return startProcess("kube-apiserver", l.binary("kube-apiserver"), l.logPath("kube-apiserver"), nil,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(l.kubeAPIServer.number),
		// A loopback advertise address is refused by the default reconciler.
		"--endpoint-reconciler-type=none",
		// Simulated nodes have no kubelet; should anything ask for one,
		// kube-apiserver dials the node's loopback InternalIP, never a
		// host name that could resolve elsewhere.
		"--kubelet-preferred-address-types=InternalIP",
		"--etcd-servers="+p.etcd.ClientURL,
		"--cert-dir="+l.path("kube-apiserver"),
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
}

// connect writes the admin kubeconfig for kube-apiserver's final address
// and builds the clients the plane uses from then on.
func (p *Plane) connect() error {
	p.KubeAPIServerURL = p.layout.kubeAPIServerURL()
	if err := p.writeKubeconfig(p.KubeconfigPath, adminUser, []string{"system:masters"}); err != nil {
		return err
	}
	var err error
	if p.admin, err = clientcmd.BuildConfigFromFlags("", p.KubeconfigPath); err != nil {
		return err
	}
	if p.kube, err = kubernetes.NewForConfig(p.admin); err != nil {
		return err
	}
	if p.dynamic, err = dynamic.NewForConfig(p.admin); err != nil {
		return err
	}
	p.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(p.kube.Discovery()))
	return nil
}

// startControllerManager runs the kube-controller-manager controllers the
// platform relies on and those that make workloads run on the simulated
// nodes.
func (p *Plane) startControllerManager() error {
	l := p.layout
	kubeconfig := l.kubeconfig("kube-controller-manager")
	if err := p.writeKubeconfig(kubeconfig, "system:kube-controller-manager", []string{"system:masters"}); err != nil {
		return err
	}
	p.logf("Starting kube-controller-manager")
	var err error
	p.controllerManager, err = startProcess("kube-controller-manager", l.binary("kube-controller-manager"),
		l.logPath("kube-controller-manager"), nil,
		"--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--controllers="+strings.Join(controllerManagerControllers, ","),
		"--service-account-private-key-file="+p.pki.serviceAccountKey,
		"--root-ca-file="+p.pki.servingCA,
	)
	if err != nil {
		return err
	}
	p.watchProcess(p.controllerManager)
	return nil
}

var controllerManagerControllers = []string{
	// The platform's own needs: ClusterRole aggregation (archon's roles
	// aggregate Kubernetes' admin/edit/view), namespace deletion,
	// ServiceAccounts and their tokens, garbage collection and quota usage.
	"clusterrole-aggregation-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"garbage-collector-controller",
	"resourcequota-controller",
	"root-ca-certificate-publisher-controller",
	// Workloads on the simulated nodes. kube-apiserver taints every new
	// Node not-ready; the node lifecycle controller lifts the taint once
	// kwok reports the Node Ready.
	"node-lifecycle-controller",
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"daemonset-controller",
	"job-controller",
	"cronjob-controller",
	"endpointslice-controller",
	"pod-garbage-collector-controller",
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
// and the kubeconfig it names, and returns the configuration's path. It
// names archon's port, which is why that port never moves.
func (p *Plane) writeAdmissionConfig() (string, error) {
	l := p.layout
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.AuthInfos["localhost:"+strconv.Itoa(l.archon.number)] = &clientcmdapi.AuthInfo{
		ClientCertificate: p.pki.admissionClientCert, ClientKey: p.pki.admissionClientKey,
	}
	kubeconfigPath := l.path("admission-webhooks.kubeconfig")
	if err := clientcmd.WriteToFile(*kubeconfig, kubeconfigPath); err != nil {
		return "", err
	}
	configPath := l.path("admission-config.yaml")
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
	return writeKubeconfigFile(path, p.layout.kubeAPIServerURL(), p.pki.servingAuthority.CertPEM, user, certPEM, keyPEM)
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
# kubectl matching the server, kubectl-acp (kubectl acp), helm and crane first.
export PATH=%s:"$PATH"
`, p.EnvPath, p.KubeconfigPath, p.KubeAPIServerURL, p.ArchonURL, p.pki.servingCA, p.etcd.ClientURL, p.RegistryHost, p.pki.servingCA, shellQuote(p.opts.BinDir))
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

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
