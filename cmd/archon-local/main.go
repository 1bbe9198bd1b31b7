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

// Command archon-local runs the local control plane ("up") and hands out
// kubeconfigs for arbitrary users of it ("kubeconfig USER [GROUP...]").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/acp-archon/archon/internal/localplane"
)

func main() {
	dir := flag.String("dir", "_output/local", "state directory of the local control plane")
	binDir := flag.String("bin-dir", "_output/bin", "directory holding the binaries of the plane (kube-apiserver, kwok, archon-apiserver, ...)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: archon-local [flags] up | kubeconfig USER [GROUP...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	var err error
	switch args := flag.Args(); {
	case len(args) == 1 && args[0] == "up":
		err = up(*dir, *binDir)
	case len(args) >= 2 && args[0] == "kubeconfig":
		var path string
		path, err = localplane.WriteUserKubeconfig(*dir, args[1], args[2:]...)
		if err == nil {
			fmt.Println(path)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "archon-local: %v\n", err)
		os.Exit(1)
	}
}

func up(dir, binDir string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	plane, err := localplane.Start(ctx, localplane.Options{Dir: dir, BinDir: binDir, Log: os.Stdout})
	if err != nil {
		return err
	}
	defer plane.Stop()

	fmt.Printf(`
Archon local control plane is ready.
  kube-apiserver:   %s
  archon-apiserver: %s (helm reads Local chart repositories at %s/chartrepos/<namespace>/<name>)
  registry:         %s (CA: %s)
  nodes:            simulated by kwok: pods are scheduled and turn Running and Ready, but run nothing
  kubeconfig:       %s
  logs:             %s/logs

Use it from another shell:
  . %s
  kubectl get projects
  kubectl get nodes
  kubectl get images -A
  kubectl get chartrepos,charts -A

Press Ctrl-C to stop.
`, plane.KubeAPIServerURL, plane.ArchonURL, plane.ArchonURL, plane.RegistryHost, plane.RegistryCA(), plane.KubeconfigPath, dir, plane.EnvPath)

	select {
	case <-ctx.Done():
		fmt.Println("Stopping the local control plane")
		return nil
	case <-plane.Exited():
		return fmt.Errorf("a component stopped unexpectedly; see %s/logs", dir)
	}
}
