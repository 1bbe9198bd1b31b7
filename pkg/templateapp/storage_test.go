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

package templateapp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

func record(name string, version int, manifest string) *release.Release {
	return &release.Release{Name: name, Namespace: "shop", Version: version, Manifest: manifest,
		Info:   &release.Info{Status: release.StatusDeployed},
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "web", Version: "1.0.0"}},
		Labels: map[string]string{DesiredLabel: "d", RequesterLabel: "r"}}
}

// TestRecordsAreSealedAndCheckedWhereHelmReadsThem: a developer may write
// helm's Secrets; archon's helm reads and writes them through the sealed
// driver, so whatever she writes stops it.
func TestRecordsAreSealedAndCheckedWhereHelmReadsThem(t *testing.T) {
	kube := kubefake.NewClientset()
	secrets := kube.CoreV1().Secrets("shop")
	signer := NewSignerWithKey([]byte("0123456789abcdef0123456789abcdef"))
	sealed := sealedStorage(driver.NewSecrets(secrets), "shop", signer)
	plain := driver.NewSecrets(secrets) // what anyone who may write Secrets writes with
	ctx := context.Background()

	if err := sealed.Create(record("web", 1, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	if err := sealed.Create(record("api", 1, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	if got, err := sealed.Get("web", 1); err != nil || got.Manifest != "kind: ConfigMap" {
		t.Fatalf("a record archon wrote: %v", err)
	}

	unsealed := func(what string, err error) {
		t.Helper()
		var u *UnsealedError
		if !errors.As(err, &u) {
			t.Errorf("%s: %v, want an UnsealedError", what, err)
		}
	}
	// The manifest rewritten, the seal kept.
	forged, _ := plain.Get("sh.helm.release.v1.web.v1")
	forged.Manifest = "kind: RoleBinding"
	if err := plain.Update("sh.helm.release.v1.web.v1", forged); err != nil {
		t.Fatal(err)
	}
	_, err := sealed.Get("web", 1)
	unsealed("a rewritten manifest", err)
	_, err = sealed.History("web")
	unsealed("a rewritten manifest, in the history", err)

	// api's sealed record under web's name (a decoy), and relabeled as web.
	copied, _ := plain.Get("sh.helm.release.v1.api.v1")
	if err := plain.Create("sh.helm.release.v1.web.v2", copied); err != nil {
		t.Fatal(err)
	}
	_, err = sealed.Get("web", 2)
	unsealed("another release's record under this one's name", err)

	// A status changed, a record with no info or chart: refused, no panic.
	if err := sealed.Create(record("db", 1, "kind: ConfigMap")); err != nil {
		t.Fatal(err)
	}
	superseded, _ := plain.Get("sh.helm.release.v1.db.v1")
	superseded.Info.Status = release.StatusSuperseded
	_ = plain.Update("sh.helm.release.v1.db.v1", superseded)
	_, err = sealed.Get("db", 1)
	unsealed("a status rewritten", err)
	broken := &release.Release{Name: "cache", Version: 1}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.cache.v1", Labels: map[string]string{"name": "cache", "owner": "helm"}},
		Data: map[string][]byte{"release": []byte(mustEncode(t, broken))}, Type: "helm.sh/release.v1"}
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = sealed.History("cache")
	unsealed("a record without info or chart", err)
	if err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("message: %v", err)
	}

	// Updates through the sealed driver seal again (helm marks the
	// previous revision superseded).
	api, err := sealed.Get("api", 1)
	if err != nil {
		t.Fatal(err)
	}
	api.Info.Status = release.StatusSuperseded
	if err := sealed.Update(api); err != nil {
		t.Fatal(err)
	}
	if _, err := sealed.Get("api", 1); err != nil {
		t.Errorf("a record archon updated: %v", err)
	}
}

// mustEncode encodes a release as helm's Secret driver stores it:
// base64 of gzipped JSON.
func mustEncode(t *testing.T, rls *release.Release) string {
	t.Helper()
	data, err := json.Marshal(rls)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, _ = gz.Write(data)
	_ = gz.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TestHelmWritesObjectsOfTheNamespaceOnly: what a chart renders at
// install that the checks did not see cannot reach the cluster or other
// namespaces.
func TestHelmWritesObjectsOfTheNamespaceOnly(t *testing.T) {
	client := &namespacedClient{Client: kube.New(nil), namespace: "shop"}
	info := func(kind, namespace string, scope meta.RESTScope) *resource.Info {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind}}
		return &resource.Info{Name: "x", Namespace: namespace, Object: obj, Mapping: &meta.RESTMapping{Scope: scope}}
	}
	for name, outside := range map[string]*resource.Info{
		"cluster-scoped":    info("ClusterRole", "", meta.RESTScopeRoot),
		"another namespace": info("ConfigMap", "kube-system", meta.RESTScopeNamespace),
	} {
		if _, err := client.Create(kube.ResourceList{outside}); err == nil || !strings.Contains(err.Error(), "its own namespace only") {
			t.Errorf("create, %s: %v", name, err)
		}
		inside := info("ConfigMap", "shop", meta.RESTScopeNamespace)
		if _, err := client.Update(kube.ResourceList{inside}, kube.ResourceList{inside, outside}, false); err == nil {
			t.Errorf("update, %s: allowed", name)
		}
		if _, err := client.Update(kube.ResourceList{outside}, kube.ResourceList{inside}, false); err == nil {
			t.Errorf("update dropping (deleting), %s: allowed", name)
		}
		if got := client.inside(kube.ResourceList{inside, outside}); len(got) != 1 || got[0] != inside {
			t.Errorf("deletes, %s: %v", name, got)
		}
	}
}
