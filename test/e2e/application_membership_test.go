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
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	appv1beta1 "github.com/acp-archon/archon/pkg/apis/app/v1beta1"
	"github.com/acp-archon/archon/pkg/application"
)

// TestApplicationMembership imports resources into an application and
// removes them, as a developer, and proves the rules around membership:
// one application per resource (imports, labels and selectors alike), an
// application's Ingress routes to its own Services, and spec.addOwnerRef
// makes deleting the application delete its components, not the removed.
func TestApplicationMembership(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	const namespace = "appm-dev"
	createProject(ctx, t, "appm", "appm-admin")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace(namespace, "appm"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=appm-dev", "-n", namespace)
	devKube := kubeClientAs(t, "appm-dev")
	dev := clientAs(t, "appm-dev").AppV1beta1()
	apps := dynamic.NewForConfigOrDie(adminConfig(t)).Resource(application.Resource).Namespace(namespace)
	eventually(t, "applications served", func() error {
		_, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: shop, namespace: appm-dev}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: apps, kind: Deployment}
  addOwnerRef: true
---
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: blog, namespace: appm-dev}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: blog}
  componentKinds:
  - {group: apps, kind: Deployment}
  - {group: core, kind: Service}
`, "create", "-f", "-")
		return err
	})
	shop := map[string]string{"app.kubernetes.io/name": "shop"}
	createWorkload(ctx, t, kube, namespace, "web", shop, 1)
	waitForApplication(t, apps, "shop", application.PhaseRunning, "1/1")
	// A component created with the application's labels is owned by it
	// from its creation: the request creating it carried the reference.
	web, err := kube.AppsV1().Deployments(namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !application.IsOwnedBy(web, "shop") {
		t.Errorf("Deployment web of shop (addOwnerRef) has owners %v", web.OwnerReferences)
	}

	// Resources made before the application, outside it.
	createWorkload(ctx, t, kube, namespace, "legacy", nil, 1)
	createService(ctx, t, kube, namespace, "legacy", nil)
	createService(ctx, t, kube, namespace, "blog", map[string]string{"app.kubernetes.io/name": "blog"})
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "legacy-settings"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createIngress(ctx, t, kube, namespace, "legacy", nil, "legacy")

	importOf := func(name string, resources ...appv1beta1.ComponentReference) *appv1beta1.ApplicationImport {
		return &appv1beta1.ApplicationImport{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"},
			Spec: appv1beta1.ApplicationMembershipSpec{Application: name, Resources: resources}}
	}
	ingress := appv1beta1.ComponentReference{Group: "networking.k8s.io", Kind: "Ingress", Name: "legacy"}
	service := appv1beta1.ComponentReference{Group: "core", Kind: "Service", Name: "legacy"}
	deployment := appv1beta1.ComponentReference{Group: "apps", Kind: "Deployment", Name: "legacy"}
	settings := appv1beta1.ComponentReference{Kind: "ConfigMap", Name: "legacy-settings"}

	// An Ingress without the Service it routes to is refused, naming both.
	var refused error
	eventually(t, "developers may import", func() error {
		_, refused = dev.ApplicationImports(namespace).Create(ctx, importOf("shop", ingress), metav1.CreateOptions{})
		if apierrors.IsForbidden(refused) {
			return refused
		}
		return nil
	})
	if !apierrors.IsInvalid(refused) || !strings.Contains(refused.Error(), "spec.resources[0]") || !strings.Contains(refused.Error(), "Service/legacy") {
		t.Errorf("importing an Ingress without its Service: %v, want a 422 naming spec.resources[0] and Service/legacy", refused)
	}
	// Bad input names the field.
	_, err = dev.ApplicationImports(namespace).Create(ctx, importOf("shop", appv1beta1.ComponentReference{Kind: "Gizmo", Name: "x"}), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.resources[0].kind") {
		t.Errorf("importing a kind the cluster does not serve: %v", err)
	}
	_, err = dev.ApplicationImports(namespace).Create(ctx, importOf("nowhere", deployment), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("importing into an application that does not exist: %v", err)
	}

	// A dry run writes nothing.
	dry, err := dev.ApplicationImports(namespace).Create(ctx, importOf("shop", deployment, service, ingress, settings),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || len(dry.Status.Resources) != 4 || dry.Status.Revision != 0 {
		t.Fatalf("dry run: %v, %+v", err, dry)
	}
	if svc, err := kube.CoreV1().Services(namespace).Get(ctx, "legacy", metav1.GetOptions{}); err != nil || len(svc.Labels) != 0 {
		t.Errorf("a dry run labeled Service legacy: %v, %v", err, svc.Labels)
	}

	imported, err := dev.ApplicationImports(namespace).Create(ctx, importOf("shop", deployment, service, ingress, settings), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if imported.Status.Revision < 1 || !strings.Contains(fmt.Sprint(imported.Status.Resources), "legacy-settings") {
		t.Errorf("import recorded %+v", imported.Status)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "5/5")
	app, err := apps.Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds, _, _ := unstructured.NestedSlice(app.Object, "spec", "componentKinds")
	if got := fmt.Sprint(kinds); !strings.Contains(got, "group:core kind:Service") || !strings.Contains(got, "group:networking.k8s.io kind:Ingress") ||
		!strings.Contains(got, "group:core kind:ConfigMap") {
		t.Errorf("componentKinds after the import: %s", got)
	}
	svc, err := kube.CoreV1().Services(namespace).Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil || svc.Labels["app.kubernetes.io/name"] != "shop" || !application.IsOwnedBy(svc, "shop") {
		t.Errorf("Service legacy after the import: %v, labels %v, owners %v", err, svc.Labels, svc.OwnerReferences)
	}

	// One application per resource: an import into another is a 409
	// naming the owner ...
	_, err = dev.ApplicationImports(namespace).Create(ctx, importOf("blog", service), metav1.CreateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "application shop") {
		t.Errorf("importing shop's Service into blog: %v, want a 409 naming shop", err)
	}
	// ... a label making it match a second application is refused ...
	if _, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: tiers, namespace: appm-dev}
spec:
  selector:
    matchLabels: {tier: front}
  componentKinds:
  - {group: apps, kind: Deployment}
`, "create", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second application's label refused", func() error {
		_, err := devKube.AppsV1().Deployments(namespace).Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"front"}}}`), metav1.PatchOptions{})
		if err == nil {
			_, _ = kube.AppsV1().Deployments(namespace).Patch(ctx, "web", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":null}}}`), metav1.PatchOptions{})
			return fmt.Errorf("labeling shop's Deployment web into tiers was allowed")
		}
		if !strings.Contains(err.Error(), "applications shop and tiers") {
			return err
		}
		return nil
	})
	// ... and so is an application whose selector claims another's.
	_, err = kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: greedy, namespace: appm-dev}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: shop}
  componentKinds:
  - {group: apps, kind: Deployment}
`, "create", "-f", "-")
	expectRefusal(t, "an application claiming shop's Deployments", err, "Deployment/web already belongs to application shop")

	// An application's Ingress routes to its own Services only.
	_, err = devKube.NetworkingV1().Ingresses(namespace).Create(ctx, ingressOf("sneaky", shop, "blog"), metav1.CreateOptions{})
	expectRefusal(t, "shop's Ingress routing to blog's Service", err, "Ingress/sneaky of application shop routes to Service/blog")

	// Removing a Service the application's Ingress still routes to is
	// refused; removing the ConfigMap dissociates it, through kubectl acp.
	_, err = dev.ApplicationRemovals(namespace).Create(ctx, &appv1beta1.ApplicationRemoval{ObjectMeta: metav1.ObjectMeta{Name: "svc"},
		Spec: appv1beta1.ApplicationMembershipSpec{Application: "shop", Resources: []appv1beta1.ComponentReference{service}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Ingress/legacy") {
		t.Errorf("removing the Service shop's Ingress routes to: %v", err)
	}
	out, err := kubectlACP(t, mustKubeconfig(t, "appm-dev"), "", "app", "remove", "shop", "-n", namespace, "configmap/legacy-settings")
	if err != nil || !strings.Contains(out, "ConfigMap   legacy-settings") || !strings.Contains(out, "1 resources removed from application appm-dev/shop") {
		t.Errorf("kubectl acp app remove: %v\n%s", err, out)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "4/4")
	cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "legacy-settings", metav1.GetOptions{})
	if err != nil || len(cm.Labels) != 0 || len(cm.OwnerReferences) != 0 {
		t.Errorf("ConfigMap legacy-settings after its removal: %v, labels %v, owners %v", err, cm.Labels, cm.OwnerReferences)
	}
	// kubectl acp app import names resources as kubectl does.
	createService(ctx, t, kube, namespace, "extra", nil)
	out, err = kubectlACP(t, mustKubeconfig(t, "appm-dev"), "", "app", "import", "shop", "-n", namespace, "svc/extra")
	if err != nil || !strings.Contains(out, "Service   extra") {
		t.Errorf("kubectl acp app import: %v\n%s", err, out)
	}
	waitForApplication(t, apps, "shop", application.PhaseRunning, "5/5")

	// An orphaning delete keeps the components: the owner references the
	// garbage collector takes off are not put back.
	if _, err := kubectl(t, plane.KubeconfigPath, `
apiVersion: app.k8s.io/v1beta1
kind: Application
metadata: {name: kept, namespace: appm-dev}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: kept}
  componentKinds:
  - {group: core, kind: ConfigMap}
  addOwnerRef: true
`, "create", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a ConfigMap owned by kept", func() error {
		_ = kube.CoreV1().ConfigMaps(namespace).Delete(ctx, "kept", metav1.DeleteOptions{})
		cm, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept",
			Labels: map[string]string{"app.kubernetes.io/name": "kept"}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if !application.IsOwnedBy(cm, "kept") {
			return fmt.Errorf("ConfigMap kept has owners %v", cm.OwnerReferences)
		}
		return nil
	})
	orphan := metav1.DeletePropagationOrphan
	if err := apps.Delete(ctx, "kept", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "application kept gone, its ConfigMap orphaned", func() error {
		if _, err := apps.Get(ctx, "kept", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("application kept: %w", err)
		}
		cm, err := kube.CoreV1().ConfigMaps(namespace).Get(ctx, "kept", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(cm.OwnerReferences) != 0 {
			return fmt.Errorf("ConfigMap kept still has owners %v", cm.OwnerReferences)
		}
		return nil
	})

	// Deleting the application deletes what it owns, through the garbage
	// collector; what was removed stays, as do other applications'.
	if err := apps.Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "shop's components deleted with it", func() error {
		for _, gone := range []error{
			getErr(kube.AppsV1().Deployments(namespace).Get(ctx, "web", metav1.GetOptions{})),
			getErr(kube.AppsV1().Deployments(namespace).Get(ctx, "legacy", metav1.GetOptions{})),
			getErr(kube.CoreV1().Services(namespace).Get(ctx, "legacy", metav1.GetOptions{})),
			getErr(kube.CoreV1().Services(namespace).Get(ctx, "extra", metav1.GetOptions{})),
			getErr(kube.NetworkingV1().Ingresses(namespace).Get(ctx, "legacy", metav1.GetOptions{})),
		} {
			if !apierrors.IsNotFound(gone) {
				return fmt.Errorf("a component of shop is still there: %w", gone)
			}
		}
		return nil
	})
	for name, err := range map[string]error{
		"ConfigMap legacy-settings (removed)": getErr(kube.CoreV1().ConfigMaps(namespace).Get(ctx, "legacy-settings", metav1.GetOptions{})),
		"Service blog (another application)":  getErr(kube.CoreV1().Services(namespace).Get(ctx, "blog", metav1.GetOptions{})),
	} {
		if err != nil {
			t.Errorf("%s after shop's deletion: %v", name, err)
		}
	}
}

func getErr[T any](_ T, err error) error { return err }

func createService(ctx context.Context, t *testing.T, kube kubernetes.Interface, namespace, name string, labels map[string]string) {
	t.Helper()
	if _, err := kube.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"workload": name}, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ingressOf(name string, labels map[string]string, service string) *networkingv1.Ingress {
	pathType := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: service, Port: networkingv1.ServiceBackendPort{Number: 80}},
			}}},
		}}}}},
	}
}

func createIngress(ctx context.Context, t *testing.T, kube kubernetes.Interface, namespace, name string, labels map[string]string, service string) {
	t.Helper()
	if _, err := kube.NetworkingV1().Ingresses(namespace).Create(ctx, ingressOf(name, labels, service), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
