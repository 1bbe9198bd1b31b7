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
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/acp-archon/archon/artifacts"
)

// localManifests are the parts of artifacts/ that fit a local run, the
// Application CRDs included; the Deployment, its Service and etcd are
// replaced by processes on 127.0.0.1.
var localManifests = []string{"namespace.yaml", "rbac.yaml", "roles.yaml", "apiservice.yaml", "webhooks.yaml", "applications.yaml"}

var apiServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// archonGroupVersions are the group versions archon serves, each through an
// APIService named <version>.<group>.
var archonGroupVersions = []schema.GroupVersion{
	{Group: "auth.alauda.io", Version: "v1"},
	{Group: "registry.alauda.io", Version: "v1"},
	{Group: "app.alauda.io", Version: "v1beta1"},
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

// installArchon applies the shipped manifests, with the APIService's port
// and caBundle set for this plane.
func (p *Plane) installArchon(ctx context.Context) error {
	port := p.archonPort
	client, err := dynamic.NewForConfig(p.admin)
	if err != nil {
		return err
	}
	discoveryClient, err := discovery.NewDiscoveryClientForConfig(p.admin)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoveryClient))

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

	for _, obj := range objects {
		caBundle := base64.StdEncoding.EncodeToString(p.pki.servingAuthority.CertPEM)
		switch obj.GetKind() {
		case "APIService":
			_ = unstructured.SetNestedField(obj.Object, int64(port), "spec", "service", "port")
			_ = unstructured.SetNestedField(obj.Object, caBundle, "spec", "caBundle")
		case "ValidatingWebhookConfiguration":
			if err := pointWebhooksAt(obj, "https://localhost:"+strconv.Itoa(port), caBundle); err != nil {
				return err
			}
		}
		if err := apply(ctx, client, mapper, obj); err != nil {
			return err
		}
	}
	return nil
}

// StartArchon starts archon-apiserver and waits until kube-apiserver
// reports its APIService Available.
func (p *Plane) StartArchon(ctx context.Context) error {
	archonKubeconfig := filepath.Join(p.opts.Dir, "archon-apiserver.kubeconfig")
	// archon authenticates as its ServiceAccount, so the shipped RBAC applies.
	if err := p.writeKubeconfig(archonKubeconfig, archonServiceAccount,
		[]string{"system:serviceaccounts", "system:serviceaccounts:archon-system"}); err != nil {
		return err
	}
	p.logf("Starting archon-apiserver on %s", p.ArchonURL)
	var err error
	p.archon, err = startProcess("archon-apiserver", filepath.Join(p.opts.BinDir, "archon-apiserver"),
		filepath.Join(p.opts.Dir, "logs", "archon-apiserver.log"),
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(p.archonPort),
		"--tls-cert-file="+p.pki.archonCert,
		"--tls-private-key-file="+p.pki.archonKey,
		"--kubeconfig="+archonKubeconfig,
		"--authentication-kubeconfig="+archonKubeconfig,
		"--authorization-kubeconfig="+archonKubeconfig,
		"--embedded-etcd-dir="+filepath.Join(p.opts.Dir, "archon-etcd"),
		"--chart-storage-dir="+filepath.Join(p.opts.Dir, "charts"),
		"--registry-url=https://"+p.RegistryHost,
		"--registry-ca-file="+p.pki.servingCA,
		"--registry-token-key-file="+p.pki.registryTokenKey,
		"--registry-notifications-token-file="+p.pki.registryNotificationsTokenFile,
		// OCI repositories may live in the platform registry, on loopback
		// here, whose token realm is archon; nothing else internal may be
		// read.
		"--chart-repo-allowed-addresses="+strings.Join(append([]string{p.RegistryHost, "127.0.0.1:" + strconv.Itoa(p.archonPort)},
			p.opts.ChartRepoAllowedAddresses...), ","),
	)
	if err != nil {
		return err
	}
	return p.waitFor(ctx, p.archon, "archon to be served through kube-apiserver", p.archonServed)
}

// archonServed is true once archon is ready, its APIServices are Available
// and requests through kube-apiserver reach each group. All three matter after a
// restart: the APIService can still show the status of the previous run.
func (p *Plane) archonServed(ctx context.Context) (bool, error) {
	direct := rest.CopyConfig(p.admin)
	direct.Host = p.ArchonURL
	directClient, err := kubernetes.NewForConfig(direct)
	if err != nil {
		return false, err
	}
	if err := directClient.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err != nil {
		return false, nil
	}

	client, err := dynamic.NewForConfig(p.admin)
	if err != nil {
		return false, err
	}
	kube, err := kubernetes.NewForConfig(p.admin)
	if err != nil {
		return false, err
	}
	for _, gv := range archonGroupVersions {
		apiService, err := client.Resource(apiServiceResource).Get(ctx, gv.Version+"."+gv.Group, metav1.GetOptions{})
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
		if _, err := kube.Discovery().ServerResourcesForGroupVersion(gv.String()); err != nil {
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

func apply(ctx context.Context, client dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	var resource dynamic.ResourceInterface = client.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		resource = client.Resource(mapping.Resource).Namespace(obj.GetNamespace())
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
		if err == io.EOF {
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
