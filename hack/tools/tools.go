//go:build tools

// Package tools pins the binaries the local control plane and the end-to-end
// suite build from source: kube-apiserver and kubectl at the Kubernetes
// version whose libraries archon uses, and kube-controller-manager for the
// controllers a real cluster runs (role aggregation, namespaces, service
// accounts, garbage collection).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
