//go:build tools

// Package tools pins the helm CLI that the end-to-end suite drives. It has
// its own module so that helm's Kubernetes libraries do not move the ones
// kube-apiserver is built with.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
