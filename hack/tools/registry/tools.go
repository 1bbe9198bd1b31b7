//go:build tools

// Package tools pins the container registry tools, in a module of their
// own so that their dependencies never meet Kubernetes' in one build list:
// the distribution registry the local control plane runs, and crane, the
// registry client the end-to-end suite and the benchmark drive it with.
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
	_ "github.com/google/go-containerregistry/cmd/crane"
)
