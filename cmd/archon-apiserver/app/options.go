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

// Package app turns archon-apiserver's flags into a running server, in
// the phases of sample-apiserver: Complete (defaults and the standalone
// decision), Validate (every flag error at once), Config (translation to
// the server's config) and Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	basecompatibility "k8s.io/component-base/compatibility"
	componentbaseoptions "k8s.io/component-base/config/options"
	baseversion "k8s.io/component-base/version"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/acp-archon/archon/pkg/api"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
	"github.com/acp-archon/archon/pkg/apiserver"
	"github.com/acp-archon/archon/pkg/egress"
	"github.com/acp-archon/archon/pkg/embeddedetcd"
	archonopenapi "github.com/acp-archon/archon/pkg/generated/openapi"
	"github.com/acp-archon/archon/pkg/helmrepo"
)

const (
	etcdPathPrefix = "/registry/archon"
	// serviceDNSName is the name kube-apiserver's aggregator checks in the
	// serving certificate: the Service the APIService points at.
	serviceDNSName = "archon-apiserver.archon-system.svc"
	// maxRequestBodyBytes keeps requests below etcd's request size limit
	// (1.5 MiB) so oversized objects get 413, not an etcd error.
	maxRequestBodyBytes = 3 * 512 * 1024
)

// storageVersions are the versions objects are stored in, one per group
// with objects in etcd.
var storageVersions = schema.GroupVersions{authv1.SchemeGroupVersion, appv1beta1.SchemeGroupVersion, resourcev1.SchemeGroupVersion}

// Options are archon-apiserver's command-line options.
type Options struct {
	Recommended *genericoptions.RecommendedOptions
	// EmbeddedEtcdDir is where the embedded etcd keeps its data when no
	// --etcd-servers are given.
	EmbeddedEtcdDir string
	// ClusterName is the name projects use for the cluster archon serves.
	ClusterName string
	// Registry configures the container registry archon fronts.
	Registry apiserver.ContainerRegistryConfig
	// Charts configures the chart catalog.
	Charts apiserver.ChartsConfig
	// Overcommit is the cluster's overcommit ratios.
	Overcommit apiserver.OvercommitConfig
	// ProtectedNamespaces never join a project, besides kube-*, default
	// and archon-system.
	ProtectedNamespaces []string
	// Controllers configures the controllers' workers and leader election.
	Controllers apiserver.ControllersConfig

	// Set by Complete.
	// embeddedEtcd says that no --etcd-servers were given: archon starts
	// its own etcd.
	embeddedEtcd bool
	// standalone says that there is no cluster to extend (no kubeconfig,
	// not in a cluster): no delegated auth, no admission, no controllers.
	standalone bool
}

// NewOptions returns options with archon's defaults.
func NewOptions() *Options {
	o := &Options{
		Recommended: genericoptions.NewRecommendedOptions(etcdPathPrefix,
			api.Codecs.LegacyCodec(storageVersions...)),
		EmbeddedEtcdDir: "archon-data/etcd",
		ClusterName:     "global",
		Registry: apiserver.ContainerRegistryConfig{
			Issuer:   "archon",
			Service:  "archon-registry",
			TokenTTL: 5 * time.Minute,
		},
		Charts: apiserver.ChartsConfig{
			StorageDir: "archon-data/charts",
			Limits:     helmrepo.DefaultLimits,
			Resync:     10 * time.Minute,
		},
		Controllers: apiserver.ControllersConfig{
			Workers:        apiserver.DefaultControllerWorkers,
			LeaderElection: apiserver.DefaultLeaderElection(),
		},
	}
	// Nothing is served without credentials: kube-apiserver calls the
	// admission webhooks with a client certificate, authorized like any
	// other caller (nonResourceURLs /admission/*), and the registry's
	// notifications carry their own secret around these filters.
	// Self-signed serving certificates, made when none are given, live next
	// to the embedded etcd data rather than in the working directory.
	o.Recommended.SecureServing.ServerCert.CertDirectory = "archon-data/certs"
	o.Recommended.Etcd.StorageConfig.EncodeVersioner = storageVersions
	// Without a kubeconfig and outside a cluster archon runs standalone:
	// only client certificates authenticate and only system:masters is
	// authorized. With one, authentication and authorization are delegated
	// to kube-apiserver.
	o.Recommended.Authentication.RemoteKubeConfigFileOptional = true
	o.Recommended.Authorization.RemoteKubeConfigFileOptional = true
	return o
}

// AddFlags registers the options on a flag set.
func (o *Options) AddFlags(flags *pflag.FlagSet) {
	o.Recommended.AddFlags(flags)
	flags.StringVar(&o.EmbeddedEtcdDir, "embedded-etcd-dir", o.EmbeddedEtcdDir,
		"Data directory of the embedded etcd started when --etcd-servers is empty.")
	flags.StringVar(&o.ClusterName, "cluster-name", o.ClusterName,
		"Name of the cluster this archon serves, as projects list it in spec.clusters.")
	flags.StringVar(&o.Registry.URL, "registry-url", o.Registry.URL,
		"API endpoint (https://host:port) of the container registry whose repositories images.registry.alauda.io serves. Empty leaves images and the registry token service out.")
	flags.StringVar(&o.Registry.Host, "registry-host", o.Registry.Host,
		"The registry's host:port as image references and pull secrets name it; defaults to the host of --registry-url.")
	flags.StringVar(&o.Registry.CAFile, "registry-ca-file", o.Registry.CAFile,
		"CA bundle that verifies the registry's serving certificate; empty uses the system's roots.")
	flags.StringVar(&o.Registry.TokenKeyFile, "registry-token-key-file", o.Registry.TokenKeyFile,
		"PEM private key (ECDSA, RSA or Ed25519) registry tokens are signed with; the registry's rootcertbundle must hold a certificate of its public key.")
	flags.StringVar(&o.Registry.Issuer, "registry-token-issuer", o.Registry.Issuer,
		"Issuer of registry tokens, as the registry's auth.token.issuer says.")
	flags.StringVar(&o.Registry.Service, "registry-service", o.Registry.Service,
		"Audience of registry tokens, as the registry's auth.token.service says.")
	flags.DurationVar(&o.Registry.TokenTTL, "registry-token-ttl", o.Registry.TokenTTL,
		"How long a registry token is valid.")
	flags.StringVar(&o.Registry.NotificationsTokenFile, "registry-notifications-token-file", o.Registry.NotificationsTokenFile,
		"File holding the secret the registry sends with its notifications (headers: Authorization: [Bearer <secret>] in its endpoint); empty turns notifications off.")
	flags.StringVar(&o.Charts.StorageDir, "chart-storage-dir", o.Charts.StorageDir,
		"Directory holding the charts of Local chart repositories; keep it on a persistent volume.")
	flags.Int64Var(&o.Charts.Limits.Archive, "chart-max-archive-bytes", o.Charts.Limits.Archive,
		"Largest chart archive (.tgz) a Local repository accepts.")
	flags.DurationVar(&o.Charts.Resync, "chart-repo-resync", o.Charts.Resync,
		"How often Chart and OCI repositories are read again.")
	flags.StringSliceVar(&o.Charts.AllowedAddresses, "chart-repo-allowed-addresses", o.Charts.AllowedAddresses,
		"Internal addresses Chart and OCI repositories may be read from, as CIDRs (10.1.0.0/16) or IP:port (the platform registry's); every other loopback, link-local, private, shared or reserved address is refused.")
	flags.Int64Var(&o.Overcommit.CPU, "cluster-cpu-overcommit-ratio", o.Overcommit.CPU,
		"The cluster's CPU overcommit ratio (limits / requests of the containers of project namespaces' new pods), which NamespaceResourceRatios inherit: 0 for none, else an integer greater than 1.")
	flags.Int64Var(&o.Overcommit.Memory, "cluster-memory-overcommit-ratio", o.Overcommit.Memory,
		"The cluster's memory overcommit ratio, as --cluster-cpu-overcommit-ratio.")
	flags.StringSliceVar(&o.ProtectedNamespaces, "protected-namespaces", o.ProtectedNamespaces,
		"Namespaces that never join a project, besides kube-*, default, archon-system and namespaces labeled auth.alauda.io/protected=true.")
	flags.IntVar(&o.Controllers.Workers, "controller-workers", o.Controllers.Workers,
		"How many objects each controller reconciles at once.")
	componentbaseoptions.BindLeaderElectionFlags(&o.Controllers.LeaderElection, flags)
}

// NewCommand returns the archon-apiserver command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "archon-apiserver",
		Short: "Serve the platform API (projects, images, charts) as an aggregated API server",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.SetContext(ctx)
	o.AddFlags(cmd.Flags())
	return cmd
}

// Complete decides what the flags leave open: whether archon starts its
// own etcd, whether it runs standalone (then the options that need a
// cluster are turned off), and the registry host when only its URL is
// given.
func (o *Options) Complete() error {
	o.embeddedEtcd = len(o.Recommended.Etcd.StorageConfig.Transport.ServerList) == 0
	o.standalone = !o.hasCluster()
	if o.standalone {
		o.Recommended.CoreAPI = nil
		o.Recommended.Admission = nil
		// Priority and fairness reads its configuration from kube-apiserver.
		o.Recommended.Features.EnablePriorityAndFairness = false
	}
	if o.Registry.URL != "" && o.Registry.Host == "" {
		if registryURL, err := url.Parse(o.Registry.URL); err == nil {
			o.Registry.Host = registryURL.Host
		}
	}
	return nil
}

// Validate reports every invalid flag and flag combination at once; call
// it after Complete.
func (o *Options) Validate() error {
	var errs []error
	// With the embedded etcd, --etcd-servers is archon's to fill in when
	// it starts it: the other etcd and storage flags (encryption among
	// them) are checked against a stand-in server.
	etcd := o.Recommended.Etcd
	if o.embeddedEtcd {
		standIn := *etcd
		standIn.StorageConfig.Transport.ServerList = []string{"https://127.0.0.1:2379"}
		etcd = &standIn
	}
	errs = append(errs, etcd.Validate()...)
	errs = append(errs, o.Recommended.SecureServing.Validate()...)
	errs = append(errs, o.Recommended.Authentication.Validate()...)
	errs = append(errs, o.Recommended.Authorization.Validate()...)
	errs = append(errs, o.Recommended.Audit.Validate()...)
	errs = append(errs, o.Recommended.Features.Validate()...)
	errs = append(errs, o.Recommended.CoreAPI.Validate()...)
	errs = append(errs, o.Recommended.Admission.Validate()...)
	errs = append(errs, o.Recommended.EgressSelector.Validate()...)
	errs = append(errs, o.Recommended.Traces.Validate()...)

	if o.ClusterName == "" {
		errs = append(errs, errors.New("--cluster-name must not be empty: projects name the cluster in spec.clusters"))
	}
	for _, namespace := range o.ProtectedNamespaces {
		if msgs := validation.IsDNS1123Label(namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--protected-namespaces: %q is not a namespace name: %s", namespace, strings.Join(msgs, "; ")))
		}
	}
	errs = append(errs, o.validateRegistry()...)
	if o.Charts.StorageDir == "" {
		errs = append(errs, errors.New("--chart-storage-dir must not be empty"))
	}
	if o.Charts.Limits.Archive <= 0 {
		errs = append(errs, fmt.Errorf("--chart-max-archive-bytes must be positive, not %d", o.Charts.Limits.Archive))
	}
	if o.Charts.Resync <= 0 {
		errs = append(errs, fmt.Errorf("--chart-repo-resync must be positive, not %v", o.Charts.Resync))
	}
	if _, err := egress.New(o.Charts.AllowedAddresses); err != nil {
		errs = append(errs, fmt.Errorf("--chart-repo-allowed-addresses: %w", err))
	}
	for flag, ratio := range map[string]int64{"--cluster-cpu-overcommit-ratio": o.Overcommit.CPU, "--cluster-memory-overcommit-ratio": o.Overcommit.Memory} {
		if ratio < 0 || ratio == 1 {
			errs = append(errs, fmt.Errorf("%s must be 0 (no overcommit) or an integer greater than 1, not %d", flag, ratio))
		}
	}
	if o.Controllers.Workers < 1 {
		errs = append(errs, fmt.Errorf("--controller-workers must be at least 1, not %d", o.Controllers.Workers))
	}
	errs = append(errs, apiserver.ValidateLeaderElection(o.Controllers.LeaderElection)...)
	return utilerrors.NewAggregate(errs)
}

func (o *Options) validateRegistry() []error {
	var errs []error
	if o.Registry.URL == "" {
		if o.Registry.NotificationsTokenFile != "" {
			errs = append(errs, errors.New("--registry-notifications-token-file needs --registry-url"))
		}
		return errs
	}
	if registryURL, err := url.Parse(o.Registry.URL); err != nil || registryURL.Host == "" || registryURL.Scheme != "https" {
		errs = append(errs, fmt.Errorf("--registry-url %q: want https://host[:port]", o.Registry.URL))
	}
	if o.Registry.TokenKeyFile == "" {
		errs = append(errs, errors.New("--registry-url needs --registry-token-key-file: archon signs the registry's tokens"))
	}
	if o.Registry.TokenTTL <= 0 {
		errs = append(errs, fmt.Errorf("--registry-token-ttl must be positive, not %v", o.Registry.TokenTTL))
	}
	return errs
}

// Run starts the embedded etcd when there is no other, then builds the
// server from Config and serves until ctx is done; call it after Complete
// and Validate.
func (o *Options) Run(ctx context.Context) error {
	if o.embeddedEtcd {
		// The serving port is taken before the embedded etcd picks free
		// ports for itself, so that etcd cannot pick it.
		if err := o.listen(); err != nil {
			return err
		}
		etcd, err := embeddedetcd.Start(ctx, o.EmbeddedEtcdDir)
		if err != nil {
			return err
		}
		defer etcd.Stop()
		klog.FromContext(ctx).Info("Started embedded etcd", "dir", o.EmbeddedEtcdDir, "url", etcd.ClientURL)
		o.Recommended.Etcd.StorageConfig.Transport.ServerList = []string{etcd.ClientURL}
	}
	if o.standalone {
		klog.FromContext(ctx).Info("No kubeconfig and not in a cluster: running standalone, without delegated auth, admission or controllers")
	}
	config, err := o.Config()
	if err != nil {
		return err
	}
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	server, err := completed.New()
	if err != nil {
		return err
	}
	return server.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// listen opens the secure serving listener now rather than when the
// server is configured.
func (o *Options) listen() error {
	serving := o.Recommended.SecureServing
	if serving.Listener != nil || serving.BindPort <= 0 {
		return nil
	}
	addr := net.JoinHostPort(serving.BindAddress.String(), strconv.Itoa(serving.BindPort))
	listener, port, err := genericoptions.CreateListener(serving.BindNetwork, addr, net.ListenConfig{})
	if err != nil {
		return fmt.Errorf("creating the serving listener: %w", err)
	}
	serving.Listener, serving.BindPort = listener, port
	return nil
}

func (o *Options) hasCluster() bool {
	if o.Recommended.CoreAPI == nil {
		return false
	}
	_, inCluster := os.LookupEnv("KUBERNETES_SERVICE_HOST")
	return o.Recommended.CoreAPI.CoreAPIKubeconfigPath != "" || inCluster
}

// Config translates the options into the server's config; it only
// translates (and makes self-signed serving certificates when none are
// given), so call it after Complete and Validate.
func (o *Options) Config() (*apiserver.Config, error) {
	if err := o.Recommended.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost",
		[]string{serviceDNSName}, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed serving certificate: %w", err)
	}

	config := genericapiserver.NewRecommendedConfig(api.Codecs)
	namer := openapi.NewDefinitionNamer(api.Scheme)
	config.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(archonopenapi.GetOpenAPIDefinitions, namer)
	config.OpenAPIConfig.Info.Title = "Archon"
	config.OpenAPIConfig.Info.Version = baseversion.Get().GitVersion
	config.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(archonopenapi.GetOpenAPIDefinitions, namer)
	config.OpenAPIV3Config.Info.Title = "Archon"
	config.OpenAPIV3Config.Info.Version = baseversion.Get().GitVersion
	config.MaxRequestBodyBytes = maxRequestBodyBytes
	config.FeatureGate = utilfeature.DefaultFeatureGate
	// Feature gates and emulation follow the Kubernetes libraries archon is
	// built on; /version still reports archon's own release.
	config.EffectiveVersion = basecompatibility.NewEffectiveVersionFromString(baseversion.DefaultKubeBinaryVersion, "", "")

	if err := o.Recommended.ApplyTo(config); err != nil {
		return nil, err
	}
	if config.Authorization.Authorizer == nil {
		return nil, errors.New("no authorizer configured")
	}
	extra := apiserver.ExtraConfig{
		ClusterName:         o.ClusterName,
		Charts:              o.Charts,
		Overcommit:          o.Overcommit,
		ProtectedNamespaces: o.ProtectedNamespaces,
		Controllers:         o.Controllers,
	}
	if o.Registry.URL != "" {
		registry := o.Registry
		extra.Registry = &registry
	}
	return &apiserver.Config{GenericConfig: config, Extra: extra}, nil
}
