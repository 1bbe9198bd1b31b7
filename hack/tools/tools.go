//go:build tools

// Package tools pins the binaries the local control plane and the end-to-end
// suite build from source: kube-apiserver and kubectl at the Kubernetes
// version whose libraries archon uses, kube-controller-manager for the
// controllers a real cluster runs (role aggregation, namespaces, service
// accounts, garbage collection, workloads) and kube-scheduler, which binds
// pods to the plane's simulated nodes.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
