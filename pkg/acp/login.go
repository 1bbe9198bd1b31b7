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

package acp

import (
	"fmt"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func newLoginCommand(o *options) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "login <registry>",
		Short: "Store registry credentials of your Kubernetes user in the Docker config",
		Long: `Store registry credentials derived from the current kubeconfig user in the Docker config
($DOCKER_CONFIG/config.json or ~/.docker/config.json), so that docker, crane and kubectl acp reach
the registry as that user. The credential is the user's token; a user who authenticates with a
client certificate passes a token with --token (kubectl acp pull and push use the certificate
directly and need no login). It logs in to the platform's registry only (--registry or $REGISTRY):
any other registry would get your Kubernetes token.`,
		Example: `  kubectl acp login registry.example.com --registry registry.example.com
  REGISTRY=127.0.0.1:5000 kubectl acp login 127.0.0.1:5000 --token "$(kubectl create token builder -n team-a)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			registry, err := name.NewRegistry(args[0])
			if err != nil {
				return fmt.Errorf("registry %q: %w", args[0], err)
			}
			// The credential stored is the user's Kubernetes token: only
			// the platform's registry may have it.
			if err := o.checkRegistry(registry.RegistryStr()); err != nil {
				return err
			}
			kubeConfig, err := o.restConfig()
			if err != nil {
				return err
			}
			access, err := o.registryAccess(kubeConfig, token)
			if err != nil {
				return err
			}
			if access.token == "" {
				return fmt.Errorf("the kubeconfig's user authenticates with a client certificate, which registry clients cannot present; " +
					"pass a token with --token, or use kubectl acp pull/push, which need no login")
			}
			// Whom the token stands for, asked with the token alone.
			asToken := rest.AnonymousClientConfig(kubeConfig)
			asToken.BearerToken = access.token
			kube, err := kubernetes.NewForConfig(asToken)
			if err != nil {
				return err
			}
			user, err := identity(cmd.Context(), kube)
			if err != nil {
				return err
			}
			// The registry sends the client to archon's token service, which
			// must accept the token.
			if _, err := transport.NewWithContext(cmd.Context(), registry, access.auth, access.transport, nil); err != nil {
				return fmt.Errorf("the registry %s did not accept the credentials of %s: %w", registry.RegistryStr(), user, err)
			}
			dockerConfig, err := dockerconfig.Load(dockerconfig.Dir())
			if err != nil {
				return err
			}
			credentials := types.AuthConfig{ServerAddress: registry.RegistryStr(), Username: "kubernetes", Password: access.token}
			if err := dockerConfig.GetCredentialsStore(registry.RegistryStr()).Store(credentials); err != nil {
				return fmt.Errorf("storing the credentials: %w", err)
			}
			fmt.Fprintf(o.out, "Logged in to %s as %s (credentials in %s)\n", registry.RegistryStr(), user, dockerConfig.Filename)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "Kubernetes token to log in with instead of the kubeconfig's.")
	return cmd
}
