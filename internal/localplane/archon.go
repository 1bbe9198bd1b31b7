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
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/acp-archon/archon/artifacts"
	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	imagev1 "github.com/acp-archon/archon/pkg/apis/image/v1"
)

// localManifests are the parts of artifacts/ that fit a local run, the
// Application CRDs included; the Deployment, its Service and etcd are
// replaced by processes on 127.0.0.1.
var localManifests = []string{"namespace.yaml", "rbac.yaml", "roles.yaml", "apiservice.yaml", "webhooks.yaml", "applications.yaml"}

var apiServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// archonGroupVersions are the group versions archon serves, each through an
// APIService named <version>.<group>.
var archonGroupVersions = []schema.GroupVersion{
	authv1.SchemeGroupVersion,
	imagev1.SchemeGroupVersion,
	appv1beta1.SchemeGroupVersion,
}

// localService points the APIService at archon on localhost.
const localService = `
apiVersion: v1
kind: Service
metadata:
  name: archon-apiserver
  namespace: archon-system
spec:
  type: ExternalName
  externalName: localhost
`

// installArchon applies the shipped manifests, with the port and caBundle
// of this plane, except the APIServices: StartArchon registers them once
// archon answers.
func (p *Plane) installArchon(ctx context.Context) error {
	var objects []*unstructured.Unstructured
	for _, name := range localManifests {
		data, err := artifacts.Manifests.ReadFile(name)
		if err != nil {
			return err
		}
		docs, err := decodeManifests(data)
		if err != nil {
			return fmt.Errorf("artifacts/%s: %w", name, err)
		}
		objects = append(objects, docs...)
	}
	service, err := decodeManifests([]byte(localService))
	if err != nil {
		return err
	}
	objects = append(objects, service...)

	caBundle := base64.StdEncoding.EncodeToString(p.pki.servingAuthority.CertPEM)
	for _, obj := range objects {
		switch obj.GetKind() {
		case "APIService":
			_ = unstructured.SetNestedField(obj.Object, int64(p.layout.archon.number), "spec", "service", "port")
			_ = unstructured.SetNestedField(obj.Object, caBundle, "spec", "caBundle")
			p.apiServices = append(p.apiServices, obj)
			continue
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			if err := pointWebhooksAt(obj, p.layout.archonLocalhostURL(), caBundle); err != nil {
				return err
			}
		}
		if err := p.apply(ctx, obj); err != nil {
			return err
		}
	}
	return p.waitForCRDs(ctx, objects)
}

var crds = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitForCRDs waits until kube-apiserver serves the CRDs among objects.
// kube-controller-manager starts after them: its garbage collector learns
// of a kind only at its next discovery, up to 30 s later, and until then
// misses the deletion of owners of that kind (an application with
// spec.addOwnerRef).
func (p *Plane) waitForCRDs(ctx context.Context, objects []*unstructured.Unstructured) error {
	for _, obj := range objects {
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, readyTimeout, true, func(ctx context.Context) (bool, error) {
			crd, err := p.dynamic.Resource(crds).Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // not there yet: ask again
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", obj.GetName(), err)
		}
	}
	return nil
}

// StartArchon starts archon-apiserver and waits until kube-apiserver
// reports its APIServices Available.
func (p *Plane) StartArchon(ctx context.Context) error {
	l := p.layout
	archonKubeconfig := l.kubeconfig("archon-apiserver")
	// archon authenticates as its ServiceAccount, so the shipped RBAC applies.
	if err := p.writeKubeconfig(archonKubeconfig, archonServiceAccount,
		[]string{"system:serviceaccounts", "system:serviceaccounts:archon-system"}); err != nil {
		return err
	}
	direct := rest.CopyConfig(p.admin)
	direct.Host = l.archonURL()
	directClient, err := kubernetes.NewForConfig(direct)
	if err != nil {
		return err
	}
	// archon's port never moves: kube-apiserver's admission configuration
	// and the registry's configuration name it.
	p.archon, err = p.startOn(ctx, l.archon, false, "archon-apiserver to be ready", func() (*process, error) {
		p.logf("Starting archon-apiserver on %s", l.archonURL())
		return p.runArchon(archonKubeconfig)
	}, func(ctx context.Context) (bool, error) {
		return directClient.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() == nil, nil
	})
	if err != nil {
		return err
	}
	// kube-apiserver checks an APIService as soon as it is created or
	// changed, and after a failed check only after a delay growing up to
	// 30 s: registering archon once it answers saves that wait.
	for _, apiService := range p.apiServices {
		if err := p.apply(ctx, apiService); err != nil {
			return err
		}
	}
	return p.waitFor(ctx, p.archon, "archon to be served through kube-apiserver", p.archonServed)
}

func (p *Plane) runArchon(kubeconfig string) (*process, error) {
	l := p.layout
	return startProcess("archon-apiserver", l.binary("archon-apiserver"), l.logPath("archon-apiserver"), nil,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(l.archon.number),
		"--tls-cert-file="+p.pki.archonCert,
		"--tls-private-key-file="+p.pki.archonKey,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--embedded-etcd-dir="+l.path("archon-etcd"),
		"--chart-storage-dir="+l.path("charts"),
		"--registry-url=https://"+l.registryHost(),
		"--registry-ca-file="+p.pki.servingCA,
		"--registry-token-key-file="+p.pki.registryTokenKey,
		"--registry-notifications-token-file="+p.pki.registryNotificationsTokenFile,
		// A cluster CPU overcommit ratio that project namespaces inherit;
		// memory is not overcommitted.
		"--cluster-cpu-overcommit-ratio=2",
		// OCI repositories may live in the platform registry, on loopback
		// here, whose token realm is archon; nothing else internal may be
		// read.
		"--chart-repo-allowed-addresses="+strings.Join(append([]string{l.registryHost(), l.archon.hostPort()},
			p.opts.ChartRepoAllowedAddresses...), ","),
	)
}

// StopArchon stops archon-apiserver alone, leaving kube-apiserver up; the
// plane holds archon's port until StartArchon.
func (p *Plane) StopArchon() {
	if p.stopArchon() {
		if err := p.layout.archon.takeBack(context.Background()); err != nil {
			p.logf("%v", err)
		}
	}
}

// stopArchon stops archon-apiserver if it runs and reports whether it did.
func (p *Plane) stopArchon() bool {
	if p.archon == nil {
		return false
	}
	p.archon.stop(stopGrace)
	p.archon = nil
	return true
}

// ArchonPID is the process id of the running archon-apiserver, 0 if none.
func (p *Plane) ArchonPID() int {
	if p.archon == nil {
		return 0
	}
	return p.archon.cmd.Process.Pid
}

// archonServed is true once archon's APIServices are Available and
// requests through kube-apiserver reach each group. Both matter after a
// restart: the APIService can still show the status of the previous run.
func (p *Plane) archonServed(ctx context.Context) (bool, error) {
	for _, gv := range archonGroupVersions {
		apiService, err := p.dynamic.Resource(apiServiceResource).Get(ctx, gv.Version+"."+gv.Group, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		available := false
		conditions, _, _ := unstructured.NestedSlice(apiService.Object, "status", "conditions")
		for _, c := range conditions {
			condition, _ := c.(map[string]any)
			available = available || condition["type"] == "Available" && condition["status"] == "True"
		}
		if !available {
			return false, nil
		}
		if _, err := p.kube.Discovery().ServerResourcesForGroupVersion(gv.String()); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// pointWebhooksAt replaces each webhook's Service by a URL on this machine;
// kube-apiserver resolves webhook Services by cluster DNS, which a local
// plane does not have.
func pointWebhooksAt(obj *unstructured.Unstructured, base, caBundle string) error {
	webhooks, _, err := unstructured.NestedSlice(obj.Object, "webhooks")
	if err != nil {
		return err
	}
	for i, w := range webhooks {
		webhook := w.(map[string]any)
		path, _, _ := unstructured.NestedString(webhook, "clientConfig", "service", "path")
		webhook["clientConfig"] = map[string]any{"url": base + path, "caBundle": caBundle}
		webhooks[i] = webhook
	}
	return unstructured.SetNestedSlice(obj.Object, webhooks, "webhooks")
}

// apply applies obj server-side as the plane's field manager.
func (p *Plane) apply(ctx context.Context, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := p.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	var resource dynamic.ResourceInterface = p.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		resource = p.dynamic.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	_, err = resource.Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "archon-local", Force: &force})
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}

func decodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, err
		}
		if len(obj.Object) > 0 {
			objects = append(objects, obj)
		}
	}
}
