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

package e2e

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
)

func TestApplicationSnapshots(t *testing.T) {
	ctx := testContext(t)
	const namespace = "apps-snap"
	createNamespaces(t, namespace)
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=snap-dev", "-n", namespace)
	adminKubectl(t, "", "create", "rolebinding", "viewer", "--clusterrole=acp:viewer", "--user=snap-viewer", "-n", namespace)
	devKube := kubeClientAs(t, "snap-dev")
	dev := clientAs(t, "snap-dev").AppV1beta1().ApplicationSnapshots(namespace)
	histories := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.HistoryResource).Namespace(namespace)

	labels := map[string]string{"app.kubernetes.io/name": "shop"}
	eventually(t, "developers may write applications and their objects", func() error {
		_, err := kubectl(t, mustKubeconfig(t, "snap-dev"), `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop, namespace: apps-snap}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: core, kind: ConfigMap}
  - {group: core, kind: Secret}
  - {group: core, kind: Service}
`, "apply", "--server-side", "-f", "-")
		return err
	})
	if _, err := devKube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Labels: labels}, Data: map[string]string{"color": "blue"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := devKube.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: labels}, StringData: map[string]string{"password": "hunter2"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var first *appv1beta1.ApplicationSnapshot
	eventually(t, "developers may take snapshots", func() (err error) {
		first, err = dev.Create(ctx, &appv1beta1.ApplicationSnapshot{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"},
			Spec:       appv1beta1.ApplicationSnapshotSpec{Application: "shop", ChangeCause: "first release"},
		}, metav1.CreateOptions{})
		return err
	})
	if s := first.Status; s.Revision != 1 || s.History != "shop-1" || refs(s.ResourceDiffs.Create) != "ConfigMap/settings,Secret/db" ||
		len(s.ResourceDiffs.Update)+len(s.ResourceDiffs.Delete) != 0 {
		t.Errorf("first snapshot: %+v", s)
	}
	history, err := histories.Get(ctx, "shop-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(history.Object, "spec")
	stream := fmt.Sprint(spec["yaml"])
	if spec["user"] != "snap-dev" || spec["changeCause"] != "first release" || spec["applicationName"] != "shop" || spec["creationTimestamp"] == nil {
		t.Errorf("history spec %v", spec)
	}
	if !strings.Contains(stream, "color: blue") || !strings.Contains(stream, "kind: Application") {
		t.Errorf("the revision does not hold the application and its components:\n%s", stream)
	}
	if strings.Contains(stream, "hunter2") || strings.Contains(stream, "aHVudGVyMg") {
		t.Errorf("the revision holds a Secret's value, which every viewer reads:\n%s", stream)
	}
	if owners := history.GetOwnerReferences(); len(owners) != 1 || owners[0].Kind != "Application" || owners[0].Name != "shop" {
		t.Errorf("history owners %v, want the application", owners)
	}

	// The second revision says what changed.
	if _, err := devKube.CoreV1().ConfigMaps(namespace).Patch(ctx, "settings", "application/merge-patch+json",
		[]byte(`{"data":{"color":"green"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := devKube.CoreV1().Secrets(namespace).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := devKube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	second, err := dev.Create(ctx, &appv1beta1.ApplicationSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "second"}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "shop"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := second.Status.ResourceDiffs; second.Status.Revision != 2 || refs(d.Create) != "Service/web" || refs(d.Update) != "ConfigMap/settings" || refs(d.Delete) != "Secret/db" {
		t.Errorf("second snapshot: %+v", second.Status)
	}

	// A dry run says which revision it would be and writes nothing.
	dry, err := dev.Create(ctx, &appv1beta1.ApplicationSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "shop"},
	}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || dry.Status.Revision != 3 {
		t.Fatalf("dry run: %v, %+v", err, dry)
	}
	if _, err := histories.Get(ctx, "shop-3", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a dry run wrote a history: %v", err)
	}

	// Only the newest 6 are kept.
	for i := 3; i <= 8; i++ {
		if _, err := dev.Create(ctx, &appv1beta1.ApplicationSnapshot{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "shop"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := histories.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, h := range list.Items {
		kept = append(kept, h.GetName())
	}
	if strings.Join(kept, ",") != "shop-3,shop-4,shop-5,shop-6,shop-7,shop-8" {
		t.Errorf("histories kept: %v, want the newest 6", kept)
	}

	// Viewers read histories but take no snapshots; bad input is refused
	// naming the field or the application.
	_, err = clientAs(t, "snap-viewer").AppV1beta1().ApplicationSnapshots(namespace).Create(ctx, &appv1beta1.ApplicationSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "shop"},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("a viewer's snapshot: %v, want 403", err)
	}
	_, err = dev.Create(ctx, &appv1beta1.ApplicationSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "nameless"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.application") {
		t.Errorf("a snapshot naming no application: %v, want 422 naming spec.application", err)
	}
	_, err = dev.Create(ctx, &appv1beta1.ApplicationSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "missing"}, Spec: appv1beta1.ApplicationSnapshotSpec{Application: "nope"},
	}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a snapshot of an unknown application: %v, want 404 naming it", err)
	}
}

// refs prints resource references as Kind/name, comma-separated.
func refs(list []appv1beta1.ResourceReference) string {
	var out []string
	for _, ref := range list {
		out = append(out, ref.Kind+"/"+ref.Name)
	}
	return strings.Join(out, ",")
}
