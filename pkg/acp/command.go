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

// Package acp implements kubectl-acp, the platform's kubectl plugin for
// images and application exports. Every image command first asks
// kube-apiserver whether the caller may do what it is about to (a
// SelfSubjectAccessReview on images in the repository's namespace) and
// says which namespace and verb are missing; exports are refused by the
// API with the same detail.
package acp

import (
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// options are the flags every command shares.
type options struct {
	out        io.Writer
	kubeconfig string
	context    string
	// registryCA verifies the registry and its token service.
	registryCA string
	// registry is the platform registry's host:port: the only one commands
	// send the user's Kubernetes credentials to.
	registry string
}

// NewCommand returns the kubectl-acp command.
func NewCommand(out io.Writer) *cobra.Command {
	o := &options{out: out}
	cmd := &cobra.Command{
		Use:           "kubectl-acp",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl acp"},
		Short:         "Move images in and out of the platform's registry, export applications and record their revisions, as your Kubernetes user",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	flags := cmd.PersistentFlags()
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
	flags.StringVar(&o.context, "context", "", "The kubeconfig context to use.")
	flags.StringVar(&o.registryCA, "registry-ca", os.Getenv("REGISTRY_CA"),
		"CA file that verifies the registry and archon, besides the system's roots; $REGISTRY_CA is the default.")
	flags.StringVar(&o.registry, "registry", os.Getenv("REGISTRY"),
		"The platform registry's host:port, the only registry kubectl acp sends your Kubernetes credentials to; $REGISTRY is the default.")
	cmd.AddCommand(newLoginCommand(o), newPullCommand(o), newPushCommand(o), newExportCommand(o), newAppCommand(o))
	return cmd
}

// namespaceOrDefault is namespace, or the kubeconfig context's when empty.
func (o *options) namespaceOrDefault(namespace string) (string, error) {
	if namespace != "" {
		return namespace, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	namespace, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context}).Namespace()
	return namespace, err
}

func (o *options) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return config, nil
}

// parseReference reads an image reference of the platform's registry.
func (o *options) parseReference(reference string) (name.Reference, error) {
	ref, err := name.ParseReference(reference)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w (references are <registry>/<namespace>/<repository>[:<tag>|@<digest>], repositories in lower case)", reference, err)
	}
	if err := o.checkRegistry(ref.Context().RegistryStr()); err != nil {
		return nil, err
	}
	return ref, nil
}

// checkRegistry refuses a registry other than the platform's: the commands
// hand it the user's Kubernetes token.
func (o *options) checkRegistry(registry string) error {
	switch o.registry {
	case "":
		return fmt.Errorf("name the platform's registry with --registry or $REGISTRY: kubectl acp sends your Kubernetes credentials to it and to no other")
	case registry:
		return nil
	default:
		return fmt.Errorf("%s is not the platform's registry (%s): kubectl acp sends your Kubernetes credentials to that one only", registry, o.registry)
	}
}
