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
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func newPullCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "pull <image>",
		Short: "Pull an image into a tarball, if your user may get images in its namespace",
		Example: `  kubectl acp pull registry.example.com/team-a/app:v1
  kubectl acp pull registry.example.com/team-a/app:v1 -o app.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := o.parseReference(args[0])
			if err != nil {
				return err
			}
			session, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			if err := mayAny(cmd.Context(), session.kube, "pull", ref.Context().RepositoryStr(), "get"); err != nil {
				return err
			}
			image, err := remote.Image(ref, append(session.registry.options(), remote.WithContext(cmd.Context()))...)
			if err != nil {
				return fmt.Errorf("pulling %s: %w", ref, err)
			}
			if output == "" {
				output = defaultTarball(ref)
			}
			if err := tarball.WriteToFile(output, ref, image); err != nil {
				return fmt.Errorf("writing %s: %w", output, err)
			}
			fmt.Fprintf(o.out, "Pulled %s into %s\n", ref, output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Tarball to write (default: <repository>-<tag>.tar in the current directory).")
	return cmd
}

// defaultTarball names the tarball of a pull after the repository's last
// component and the tag or digest.
func defaultTarball(ref name.Reference) string {
	identifier := strings.ReplaceAll(ref.Identifier(), ":", "-")
	return path.Base(ref.Context().RepositoryStr()) + "-" + identifier + ".tar"
}

// session is the caller's Kubernetes client and registry access.
type session struct {
	kube     kubernetes.Interface
	registry *registryAccess
}

func (o *options) session(_ context.Context) (*session, error) {
	config, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(rest.CopyConfig(config))
	if err != nil {
		return nil, err
	}
	access, err := o.registryAccess(config, "")
	if err != nil {
		return nil, err
	}
	return &session{kube: kube, registry: access}, nil
}
