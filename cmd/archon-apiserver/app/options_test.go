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

package app

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parsed returns completed options from command-line arguments, as the
// command builds them.
func parsed(t *testing.T, args ...string) *Options {
	t.Helper()
	// Outside a cluster, whatever the machine running the test says.
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	os.Unsetenv("KUBERNETES_SERVICE_HOST")
	o := NewOptions()
	flags := pflag.NewFlagSet("archon-apiserver", pflag.ContinueOnError)
	o.AddFlags(flags)
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDefaultsValidate(t *testing.T) {
	o := parsed(t)
	if err := o.Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
	if !o.embeddedEtcd || !o.standalone {
		t.Fatalf("without --etcd-servers and a kubeconfig: embeddedEtcd=%v standalone=%v, want both", o.embeddedEtcd, o.standalone)
	}
	if o.Recommended.CoreAPI != nil || o.Recommended.Admission != nil || o.Recommended.Features.EnablePriorityAndFairness {
		t.Fatal("standalone options still reach for a cluster (core API, admission or priority and fairness)")
	}
}

func TestCompleteKeepsTheClusterWithAKubeconfig(t *testing.T) {
	o := parsed(t, "--kubeconfig=/dev/null", "--etcd-servers=https://127.0.0.1:2379")
	if o.standalone || o.embeddedEtcd || o.Recommended.CoreAPI == nil {
		t.Fatalf("with a kubeconfig and etcd servers: standalone=%v embeddedEtcd=%v", o.standalone, o.embeddedEtcd)
	}
}

func TestCompleteDefaultsTheRegistryHost(t *testing.T) {
	o := parsed(t, "--registry-url=https://registry.example:5000", "--registry-token-key-file=key.pem")
	if o.Registry.Host != "registry.example:5000" {
		t.Fatalf("registry host = %q, want the host of --registry-url", o.Registry.Host)
	}
	o = parsed(t, "--registry-url=https://10.0.0.1:5000", "--registry-host=registry.example", "--registry-token-key-file=key.pem")
	if o.Registry.Host != "registry.example" {
		t.Fatalf("registry host = %q, want --registry-host kept", o.Registry.Host)
	}
}

// TestValidateReportsEveryError gives many bad flags at once and expects
// each to be named in one error.
func TestValidateReportsEveryError(t *testing.T) {
	o := parsed(t,
		"--registry-url=http://registry.example",
		"--registry-token-ttl=0s",
		"--cluster-name=",
		"--protected-namespaces=Not_A_Namespace",
		"--chart-max-archive-bytes=0",
		"--chart-repo-resync=-1s",
		"--chart-repo-allowed-addresses=not-an-address",
		"--controller-workers=0",
		"--leader-elect-lease-duration=5s",
		"--leader-elect-renew-deadline=10s",
		"--encryption-provider-config-automatic-reload",
	)
	err := o.Validate()
	if err == nil {
		t.Fatal("bad flags validated")
	}
	for _, want := range []string{
		"--registry-url \"http://registry.example\": want https://host[:port]",
		"--registry-url needs --registry-token-key-file",
		"--registry-token-ttl must be positive",
		"--cluster-name must not be empty",
		"--protected-namespaces: \"Not_A_Namespace\"",
		"--chart-max-archive-bytes must be positive",
		"--chart-repo-resync must be positive",
		"--chart-repo-allowed-addresses",
		"--controller-workers must be at least 1",
		"--leader-elect-lease-duration (5s) must be longer than --leader-elect-renew-deadline (10s)",
		// An etcd flag, checked although archon starts its own etcd.
		"--encryption-provider-config-automatic-reload must be set with --encryption-provider-config",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestValidateNotificationsNeedARegistry(t *testing.T) {
	o := parsed(t, "--registry-notifications-token-file=token")
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--registry-notifications-token-file needs --registry-url") {
		t.Fatalf("notifications without a registry: %v", err)
	}
}

func TestLeaderElectionFlags(t *testing.T) {
	o := parsed(t, "--leader-elect=false", "--controller-workers=5")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Controllers.LeaderElection.LeaderElect || o.Controllers.Workers != 5 {
		t.Fatalf("flags not applied: %+v", o.Controllers)
	}
	o = parsed(t)
	if election := o.Controllers.LeaderElection; election.ResourceName != "archon-controllers" || election.ResourceNamespace != "archon-system" ||
		election.LeaseDuration.Duration != 15*time.Second {
		t.Fatalf("default election %+v, want the Lease archon-system/archon-controllers held 15s", election)
	}
}
