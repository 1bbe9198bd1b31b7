//go:build tools

// Package tools pins the binaries the local control plane and the end-to-end
// suite build from source: kube-apiserver and kubectl at the Kubernetes
// version whose libraries archon uses.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
