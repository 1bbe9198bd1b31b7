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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	resourcev1 "github.com/acp-archon/archon/pkg/apis/resource/v1"
)

// podWithLimits is a pod of one container with the limits given (none
// when empty).
func podWithLimits(name string, limits corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27", Resources: corev1.ResourceRequirements{Limits: limits}}}}}
}

func limits(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

// TestOvercommitRatios: the requests of a project namespace's new pods
// are their limits divided by the namespace's ratio, the cluster's when
// the namespace has none (the local plane's: CPU 2, memory none); its
// admins (the project's among them) set it, developers read it; pods run.
func TestOvercommitRatios(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	const namespace = "ocp-dev"
	createProject(ctx, t, "ocp", "ocp-admin")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace(namespace, "ocp"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
	adminKubectl(t, "", "create", "rolebinding", "dev", "--clusterrole=acp:developer", "--user=ocp-dev", "-n", namespace)
	eventually(t, "the project admin's binding", func() error {
		_, err := clientAs(t, "ocp-admin").ResourceV1().NamespaceResourceRatios(namespace).List(ctx, metav1.ListOptions{})
		return err
	})
	requests := func(t *testing.T, pod *corev1.Pod) string {
		t.Helper()
		created, err := kube.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := created.Spec.Containers[0].Resources.Requests
		return fmt.Sprintf("cpu=%s memory=%s", r.Cpu(), r.Memory())
	}

	t.Run("the cluster's ratio without a NamespaceResourceRatio", func(t *testing.T) {
		if got := requests(t, podWithLimits("inherits", limits("1", "512Mi"))); got != "cpu=500m memory=512Mi" {
			t.Errorf("requests %s, want cpu=500m (ratio 2) memory=512Mi (no memory ratio)", got)
		}
	})

	ratios := clientAs(t, "ocp-admin").ResourceV1().NamespaceResourceRatios(namespace)
	t.Run("the namespace's ratio", func(t *testing.T) {
		if _, err := ratios.Create(ctx, &resourcev1.NamespaceResourceRatio{ObjectMeta: metav1.ObjectMeta{Name: "overcommit"},
			Spec: resourcev1.NamespaceResourceRatioSpec{CPU: ptr.To[int64](4), Memory: ptr.To[int64](2)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the ratio in force", func() error {
			pod := podWithLimits("", limits("1", "512Mi"))
			pod.GenerateName = "probe-"
			if got := requests(t, pod); got != "cpu=250m memory=256Mi" {
				return fmt.Errorf("requests %s, want cpu=250m memory=256Mi", got)
			}
			return nil
		})
		// A container without limits takes the LimitRange's default.
		adminKubectl(t, `apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: ocp-dev}
spec:
  limits:
  - type: Container
    default: {cpu: "2", memory: 1Gi}
`, "apply", "-f", "-")
		if got := requests(t, podWithLimits("defaulted", nil)); got != "cpu=500m memory=512Mi" {
			t.Errorf("requests from the LimitRange's default: %s, want cpu=500m memory=512Mi", got)
		}
		if out := adminKubectl(t, "", "get", "namespaceresourceratios", "-n", namespace); !strings.Contains(out, "overcommit   4     2") {
			t.Errorf("kubectl get:\n%s", out)
		}
		out := adminKubectl(t, "", "get", "nrr", "overcommit", "-n", namespace, "-o", "jsonpath={.status.clusterCPU} {.status.clusterMemory}")
		if out != "2 0" {
			t.Errorf("status %q, want the cluster's ratios 2 0", out)
		}
	})

	t.Run("rules", func(t *testing.T) {
		_, err := ratios.Create(ctx, &resourcev1.NamespaceResourceRatio{ObjectMeta: metav1.ObjectMeta{Name: "second"}}, metav1.CreateOptions{})
		expectRefusal(t, "a second ratio", err, "overcommit")
		if !apierrors.IsConflict(err) {
			t.Errorf("a second ratio: %v, want 409", err)
		}
		current, err := ratios.Get(ctx, "overcommit", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		current.Spec.CPU = ptr.To[int64](1)
		_, err = ratios.Update(ctx, current, metav1.UpdateOptions{})
		expectRefusal(t, "a ratio of 1", err, "spec.cpu")
		_, err = clientAs(t, "ocp-dev").ResourceV1().NamespaceResourceRatios(namespace).Create(ctx,
			&resourcev1.NamespaceResourceRatio{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a developer sets the ratio: %v, want 403", err)
		}
		if _, err := clientAs(t, "ocp-dev").ResourceV1().NamespaceResourceRatios(namespace).Get(ctx, "overcommit", metav1.GetOptions{}); err != nil {
			t.Errorf("a developer reads the ratio: %v", err)
		}
	})

	t.Run("no overcommit, and pods already there", func(t *testing.T) {
		current, err := ratios.Get(ctx, "overcommit", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		current.Spec.CPU = ptr.To[int64](0)
		current.Spec.Memory = nil
		if _, err := ratios.Update(ctx, current, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "no overcommit", func() error {
			pod := podWithLimits("", limits("1", "512Mi"))
			pod.GenerateName = "none-"
			if got := requests(t, pod); got != "cpu=1 memory=512Mi" {
				return fmt.Errorf("requests %s, want the limits", got)
			}
			return nil
		})
		first, err := kube.CoreV1().Pods(namespace).Get(ctx, "inherits", metav1.GetOptions{})
		if err != nil || first.Spec.Containers[0].Resources.Requests.Cpu().String() != "500m" {
			t.Errorf("a pod already there changed: %v %v", err, first.Spec.Containers[0].Resources.Requests)
		}
		eventually(t, "the pod running", func() error {
			pod, err := kube.CoreV1().Pods(namespace).Get(ctx, "inherits", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if pod.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %s", pod.Status.Phase)
			}
			return nil
		})
	})
}

// rangeOf waits for a namespace's UID/GID range and returns it.
func rangeOf(t *testing.T, name string) string {
	t.Helper()
	var value string
	eventually(t, "the UID range of "+name, func() error {
		ns, err := kubeClient(t).CoreV1().Namespaces().Get(testContext(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if value = ns.Annotations["security.cpaas.io/uid-range"]; value == "" {
			return fmt.Errorf("no range: %v", ns.Annotations)
		}
		return nil
	})
	return value
}

// TestUIDRanges: a namespace labeled security.cpaas.io/enabled=true gets a
// range of its own; its pods run with the range's first ID unless they
// name one in it, and are refused outside it; a range written by hand
// may not overlap another; taking the label off frees the range.
func TestUIDRanges(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	createNamespaces(t, "uid-a")
	createProject(ctx, t, "uidp", "uidp-admin")
	if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace("uidp-b", "uidp"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, name := range []string{"uid-a", "uidp-b"} {
			_ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		}
	})
	adminKubectl(t, "", "label", "namespace", "uid-a", "uidp-b", "security.cpaas.io/enabled=true")
	a, b := rangeOf(t, "uid-a"), rangeOf(t, "uidp-b")
	if a == b {
		t.Fatalf("two namespaces got the range %s", a)
	}
	first, _, _ := strings.Cut(a, "-")

	t.Run("pods run with the range's first ID", func(t *testing.T) {
		pod, err := kube.CoreV1().Pods("uid-a").Create(ctx, podWithLimits("defaulted", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sc := pod.Spec.SecurityContext
		if sc == nil || fmt.Sprint(*sc.RunAsUser) != first || fmt.Sprint(*sc.FSGroup) != first || fmt.Sprint(*sc.RunAsGroup) != first ||
			fmt.Sprint(*pod.Spec.Containers[0].SecurityContext.RunAsUser) != first {
			t.Errorf("security context %+v %+v, want %s", sc, pod.Spec.Containers[0].SecurityContext, first)
		}
		eventually(t, "the pod running", func() error {
			pod, err := kube.CoreV1().Pods("uid-a").Get(ctx, "defaulted", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if pod.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %s", pod.Status.Phase)
			}
			return nil
		})
	})

	t.Run("IDs outside the range are refused", func(t *testing.T) {
		pod := podWithLimits("invalid", nil)
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000000)}
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](2000000)}
		_, err := kube.CoreV1().Pods("uidp-b").Create(ctx, pod, metav1.CreateOptions{})
		expectRefusal(t, "IDs outside the range", err, "spec.securityContext.fsGroup", "spec.containers[0].securityContext.runAsUser", b)
	})

	t.Run("a range written by hand may not overlap another", func(t *testing.T) {
		_, err := kubectl(t, plane.KubeconfigPath, "", "annotate", "namespace", "uidp-b", "--overwrite", "security.cpaas.io/uid-range="+a)
		if err == nil || !strings.Contains(err.Error(), "namespace uid-a") {
			t.Errorf("an overlapping range: %v", err)
		}
		_, err = kubectl(t, plane.KubeconfigPath, "", "annotate", "namespace", "uidp-b", "--overwrite", "security.cpaas.io/uid-range=many")
		if err == nil || !strings.Contains(err.Error(), "<first>-<last>") {
			t.Errorf("a malformed range: %v", err)
		}
	})

	t.Run("taking the label off frees the range", func(t *testing.T) {
		adminKubectl(t, "", "label", "namespace", "uid-a", "security.cpaas.io/enabled=false", "--overwrite")
		eventually(t, "the range freed", func() error {
			ns, err := kube.CoreV1().Namespaces().Get(ctx, "uid-a", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if value, ok := ns.Annotations["security.cpaas.io/uid-range"]; ok {
				return fmt.Errorf("still %s", value)
			}
			return nil
		})
		pod := podWithLimits("root", nil)
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0)}
		if _, err := kube.CoreV1().Pods("uid-a").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Errorf("a pod of a namespace without a range: %v", err)
		}
	})
}

// scheduledOn waits until the pod is scheduled and returns its node.
func scheduledOn(t *testing.T, namespace, name string) string {
	t.Helper()
	var node string
	eventually(t, "pod "+namespace+"/"+name+" scheduled", func() error {
		pod, err := kubeClient(t).CoreV1().Pods(namespace).Get(testContext(t), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node = pod.Spec.NodeName; node == "" {
			return fmt.Errorf("not scheduled: %+v", pod.Status.Conditions)
		}
		return nil
	})
	return node
}

// TestNodeIsolation: the pods of a policy's project are scheduled onto
// its nodes only, and, the policy being exclusive, no other project's
// pods are; a project and a node are in one policy at most; platform
// admins write policies, everyone reads them; deleting one lifts it.
func TestNodeIsolation(t *testing.T) {
	ctx := longTestContext(t)
	kube := kubeClient(t)
	for _, project := range []string{"iso-a", "iso-b"} {
		createProject(ctx, t, project, project+"-admin")
		namespace := project + "-dev"
		if _, err := kube.CoreV1().Namespaces().Create(ctx, projectNamespace(namespace, project), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), namespace, metav1.DeleteOptions{}) })
	}
	policies := archonClient(t, adminConfig(t)).ResourceV1().NodeGroups()
	policy := &resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Spec: resourcev1.NodeGroupSpec{Projects: []string{"iso-a"}, Nodes: []string{"kwok-node-1"}}}
	if _, err := policies.Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = policies.Delete(context.Background(), "team-a", metav1.DeleteOptions{}) })
	eventually(t, "the node labeled and tainted", func() error {
		node, err := kube.CoreV1().Nodes().Get(ctx, "kwok-node-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node.Labels["resource.alauda.io/node-group"] != "team-a" || len(node.Spec.Taints) == 0 {
			return fmt.Errorf("labels %v taints %v", node.Labels, node.Spec.Taints)
		}
		return nil
	})

	t.Run("placement", func(t *testing.T) {
		for i := range 3 {
			name := fmt.Sprint("a-", i)
			if _, err := kube.CoreV1().Pods("iso-a-dev").Create(ctx, podWithLimits(name, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if node := scheduledOn(t, "iso-a-dev", name); node != "kwok-node-1" {
				t.Errorf("a pod of iso-a on %s, want kwok-node-1", node)
			}
			name = fmt.Sprint("b-", i)
			if _, err := kube.CoreV1().Pods("iso-b-dev").Create(ctx, podWithLimits(name, nil), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if node := scheduledOn(t, "iso-b-dev", name); node == "kwok-node-1" {
				t.Errorf("a pod of iso-b on the exclusive node %s", node)
			}
		}
		// Tolerating every taint does not get another project's pod there:
		// it carries a required affinity, which the kubelet checks too (a
		// pod naming its node).
		sneaky := podWithLimits("sneaky", nil)
		sneaky.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		pod, err := kube.CoreV1().Pods("iso-b-dev").Create(ctx, sneaky, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchExpressions[0].Operator != corev1.NodeSelectorOpNotIn {
			t.Errorf("another project's pod's affinity: %+v", terms)
		}
		if node := scheduledOn(t, "iso-b-dev", "sneaky"); node == "kwok-node-1" {
			t.Errorf("a pod tolerating everything on the exclusive node %s", node)
		}
	})

	t.Run("rules", func(t *testing.T) {
		_, err := policies.Create(ctx, &resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "again"},
			Spec: resourcev1.NodeGroupSpec{Projects: []string{"iso-a"}, Nodes: []string{"kwok-node-1"}}}, metav1.CreateOptions{})
		expectRefusal(t, "a project and a node in two policies", err, "spec.projects[0]", "spec.nodes[0]", "team-a")
		_, err = policies.Create(ctx, &resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, metav1.CreateOptions{})
		expectRefusal(t, "a policy of nothing", err, "spec.projects", "spec.nodes")
		_, err = clientAs(t, "iso-a-admin").ResourceV1().NodeGroups().Create(ctx, &resourcev1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: "mine"},
			Spec: resourcev1.NodeGroupSpec{Projects: []string{"iso-a"}, Nodes: []string{"kwok-node-2"}}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a project admin writes a policy: %v, want 403", err)
		}
		if _, err := clientAs(t, "iso-b-admin").ResourceV1().NodeGroups().Get(ctx, "team-a", metav1.GetOptions{}); err != nil {
			t.Errorf("a project admin reads a policy: %v", err)
		}
		if out := adminKubectl(t, "", "get", "acp-nodegroups"); !strings.Contains(out, "team-a   iso-a      kwok-node-1   true") {
			t.Errorf("kubectl get:\n%s", out)
		}
	})

	t.Run("deleting the policy lifts it", func(t *testing.T) {
		if err := policies.Delete(ctx, "team-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the node freed", func() error {
			node, err := kube.CoreV1().Nodes().Get(ctx, "kwok-node-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if _, ok := node.Labels["resource.alauda.io/node-group"]; ok || len(node.Spec.Taints) > 0 {
				return fmt.Errorf("labels %v taints %v", node.Labels, node.Spec.Taints)
			}
			return nil
		})
		pod, err := kube.CoreV1().Pods("iso-a-dev").Create(ctx, podWithLimits("free", nil), metav1.CreateOptions{})
		if err != nil || pod.Spec.Affinity != nil {
			t.Errorf("a pod after the policy went: %v %+v", err, pod.Spec.Affinity)
		}
	})
}
