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

package localplane

import (
	"os"
	"path/filepath"
	"strconv"
)

// layout is where every part of a plane lives: the ports of its servers,
// the URLs derived from them, and the paths of its state, logs and
// binaries. It is computed before anything starts, so that starting a
// component never chooses an address another component needs, and the
// order of the start functions matters only for readiness.
type layout struct {
	dir    string
	binDir string

	// kubeAPIServer, archon and registry are the servers' ports. Only a
	// port nothing running was told about may move (see startOn).
	kubeAPIServer *port
	archon        *port
	registry      *port
}

// newLayout makes dir's subdirectories and holds a port for each server.
func newLayout(dir, binDir string) (_ *layout, err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if binDir, err = filepath.Abs(binDir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"logs", "pki", "users"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	l := &layout{dir: dir, binDir: binDir}
	defer func() {
		if err != nil {
			l.release()
		}
	}()
	for _, p := range []**port{&l.kubeAPIServer, &l.archon, &l.registry} {
		if *p, err = reservePort(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// release lets go of every port the plane still holds.
func (l *layout) release() {
	l.kubeAPIServer.release()
	l.archon.release()
	l.registry.release()
}

func (l *layout) kubeAPIServerURL() string { return "https://" + l.kubeAPIServer.hostPort() }

func (l *layout) archonURL() string { return "https://" + l.archon.hostPort() }

// archonLocalhostURL is archon's address by name, for the clients that
// refuse IP literals or match their configuration by host name: the
// registry's token realm and kube-apiserver's webhook calls.
func (l *layout) archonLocalhostURL() string {
	return "https://localhost:" + strconv.Itoa(l.archon.number)
}

func (l *layout) registryHost() string { return l.registry.hostPort() }

// path is a file or directory in the state directory.
func (l *layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}

func (l *layout) logPath(component string) string {
	return l.path("logs", component+".log")
}

func (l *layout) binary(name string) string { return filepath.Join(l.binDir, name) }

func (l *layout) adminKubeconfig() string { return l.path("kubeconfig") }

func (l *layout) envPath() string { return l.path("env") }

// kubeconfig is the kubeconfig a component talks to kube-apiserver with.
func (l *layout) kubeconfig(component string) string { return l.path(component + ".kubeconfig") }
