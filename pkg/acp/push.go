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
	"errors"
	"fmt"
	"os"

	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"
)

func newPushCommand(o *options) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "push <image> --from <tarball|oci-layout-dir> | push <source-image> <destination-image>",
		Short: "Push an image from a tarball or OCI layout, or copy one image to another, if your user may",
		Long: `Push an image from a tarball (docker save or kubectl acp pull) or an OCI image layout directory,
or copy an image from one repository of the registry to another. Pushing needs update on images in
the destination's namespace (create, for a repository that does not exist yet); copying also needs
get in the source's namespace.`,
		Example: `  kubectl acp push registry.example.com/team-a/app:v1 --from app.tar
  kubectl acp push registry.example.com/team-a/app:v1 registry.example.com/team-b/app:v1`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == (from == "") {
				return errors.New("push takes either one image and --from, or a source and a destination image")
			}
			refs := make([]name.Reference, len(args))
			for i, arg := range args {
				ref, err := o.parseReference(arg)
				if err != nil {
					return err
				}
				refs[i] = ref
			}
			s, err := o.session(cmd.Context())
			if err != nil {
				return err
			}
			destination := refs[len(refs)-1]
			if len(refs) == 2 {
				if err := mayAny(cmd.Context(), s.kube, "pull", refs[0].Context().RepositoryStr(), "get"); err != nil {
					return err
				}
			}
			if err := s.mayPush(cmd.Context(), destination); err != nil {
				return err
			}
			options := append(s.registry.options(), remote.WithContext(cmd.Context()))
			if len(refs) == 2 {
				err = copyImage(refs[0], destination, options)
			} else {
				err = pushFrom(from, destination, options)
			}
			if err != nil {
				return fmt.Errorf("pushing %s: %w", destination, err)
			}
			fmt.Fprintf(o.out, "Pushed %s\n", destination)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "Tarball or OCI image layout directory to push.")
	return cmd
}

// mayPush checks update on the destination, or create when its repository
// does not exist yet.
func (s *session) mayPush(ctx context.Context, ref name.Reference) error {
	repository := ref.Context().RepositoryStr()
	if mayAny(ctx, s.kube, "push to", repository, "update") == nil {
		return nil
	}
	_, err := remote.List(ref.Context(), append(s.registry.options(), remote.WithContext(ctx))...)
	var registryErr *transport.Error
	if errors.As(err, &registryErr) && registryErr.StatusCode == http.StatusNotFound {
		return mayAny(ctx, s.kube, "push to", repository, "create", "update")
	}
	return mayAny(ctx, s.kube, "push to", repository, "update")
}

func pushFrom(from string, ref name.Reference, options []remote.Option) error {
	info, err := os.Stat(from)
	if err != nil {
		return err
	}
	if info.IsDir() {
		index, err := layout.ImageIndexFromPath(from)
		if err != nil {
			return fmt.Errorf("reading the OCI layout %s: %w", from, err)
		}
		manifest, err := index.IndexManifest()
		if err != nil {
			return err
		}
		// A layout of one image pushes that image, not an index around it.
		if len(manifest.Manifests) == 1 && manifest.Manifests[0].MediaType.IsImage() {
			image, err := index.Image(manifest.Manifests[0].Digest)
			if err != nil {
				return err
			}
			return remote.Write(ref, image, options...)
		}
		return remote.WriteIndex(ref, index, options...)
	}
	image, err := tarball.ImageFromPath(from, nil)
	if err != nil {
		return fmt.Errorf("%s is neither an image tarball (docker save, kubectl acp pull) nor an OCI layout directory: %w", from, err)
	}
	return remote.Write(ref, image, options...)
}

func copyImage(source, destination name.Reference, options []remote.Option) error {
	descriptor, err := remote.Get(source, options...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", source, err)
	}
	if descriptor.MediaType.IsIndex() {
		index, err := descriptor.ImageIndex()
		if err != nil {
			return err
		}
		return remote.WriteIndex(destination, index, options...)
	}
	image, err := descriptor.Image()
	if err != nil {
		return err
	}
	return remote.Write(destination, image, options...)
}
