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

// Package podpolicy is the admission webhook kube-apiserver calls for the
// pods of project namespaces: the namespace's overcommit ratio sets their
// containers' requests, and its UID/GID range their IDs; and the one
// kube-apiserver calls for namespaces whose range is written by hand.
package podpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/acp-archon/archon/pkg/controller/nodeisolation"
	resourcelisters "github.com/acp-archon/archon/pkg/generated/listers/resource/v1"
	"github.com/acp-archon/archon/pkg/uidrange"
	"github.com/acp-archon/archon/pkg/webhook/admission"
)

// projectLabel marks a project's namespaces.
const projectLabel = "cpaas.io/project"

// Path is where kube-apiserver sends the reviews of pods (mutating), and
// NamespacesPath those of namespaces whose range annotation changes
// (validating).
const (
	Path           = "/admission/pods"
	NamespacesPath = "/admission/uid-ranges"
)

// ClusterRatios are the cluster's overcommit ratios (0: none).
type ClusterRatios struct {
	CPU, Memory int64
}

// Webhook admits pods.
type Webhook struct {
	ratios      resourcelisters.NamespaceResourceRatioLister
	limitRanges corev1listers.LimitRangeLister
	namespaces  corev1listers.NamespaceLister
	policies    resourcelisters.NodeGroupLister
	synced      []cache.InformerSynced
	cluster     ClusterRatios
}

// New returns the webhook reading the namespaces' ratios and LimitRanges
// from their listers once synced, with the cluster's ratios.
func New(ratios resourcelisters.NamespaceResourceRatioLister, limitRanges corev1listers.LimitRangeLister, namespaces corev1listers.NamespaceLister,
	policies resourcelisters.NodeGroupLister, cluster ClusterRatios, synced ...cache.InformerSynced) *Webhook {
	return &Webhook{ratios: ratios, limitRanges: limitRanges, namespaces: namespaces, policies: policies, cluster: cluster, synced: synced}
}

// Serve answers an admission review of a pod.
func (w *Webhook) Serve(rw http.ResponseWriter, r *http.Request) {
	admission.Serve(rw, r, "the pod policies", w.Review)
}

// ServeNamespaces answers an admission review of a namespace whose range
// annotation changes.
func (w *Webhook) ServeNamespaces(rw http.ResponseWriter, r *http.Request) {
	admission.Serve(rw, r, "the UID/GID range rules", w.ReviewNamespace)
}

// ReviewNamespace refuses a range annotation that does not parse or that
// overlaps another namespace's: archon hands out ranges no other
// namespace holds, and a range written by hand must keep it so.
func (w *Webhook) ReviewNamespace(_ context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	if err := w.Ready(nil); err != nil {
		return admission.Verdict{}, err
	}
	var namespace corev1.Namespace
	if err := json.Unmarshal(request.Object.Raw, &namespace); err != nil {
		return admission.Verdict{}, fmt.Errorf("decoding the namespace: %w", err)
	}
	value, ok := namespace.Annotations[uidrange.Annotation]
	if !ok {
		return admission.Verdict{}, nil
	}
	r, err := uidrange.Parse(value)
	if err != nil {
		return admission.Refuse(fmt.Sprintf("metadata.annotations[%s]: %v", uidrange.Annotation, err)), nil
	}
	others, err := w.namespaces.List(labels.Everything())
	if err != nil {
		return admission.Verdict{}, err
	}
	for _, other := range others {
		if o, ok := uidrange.Of(other); ok && other.Name != namespace.Name && o.Overlaps(r) {
			return admission.Refuse(fmt.Sprintf("metadata.annotations[%s]: %s overlaps the range %s of namespace %s: a namespace's UIDs and GIDs are its own",
				uidrange.Annotation, r, o, other.Name)), nil
		}
	}
	return admission.Verdict{}, nil
}

// errNotSynced refuses reviews before the informers have synced.
var errNotSynced = errors.New("archon is still reading the namespaces' policies; try again in a moment")

// Ready is a readiness check: the webhook answers once its informers have
// synced.
func (w *Webhook) Ready(*http.Request) error {
	for _, synced := range w.synced {
		if !synced() {
			return errNotSynced
		}
	}
	return nil
}

// Review sets the requests of a new pod's containers from the namespace's
// overcommit ratio, and its IDs from the namespace's UID/GID range,
// refusing IDs outside it.
func (w *Webhook) Review(_ context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	if request.Kind.Kind != "Pod" {
		return admission.Verdict{}, nil
	}
	ephemeral := request.Operation == admissionv1.Update && request.SubResource == "ephemeralcontainers"
	if !ephemeral && (request.Operation != admissionv1.Create || request.SubResource != "") {
		return admission.Verdict{}, nil
	}
	if err := w.Ready(nil); err != nil {
		return admission.Verdict{}, err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(request.Object.Raw, &pod); err != nil {
		return admission.Verdict{}, fmt.Errorf("decoding the pod: %w", err)
	}
	if ephemeral {
		// A debugging container added to a running pod: held to the range,
		// nothing else changes.
		_, problems, err := w.uidRange(request.Namespace, &pod, false)
		return admission.Verdict{Problems: problems}, err
	}
	ratios, err := w.ratiosOf(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	project := ""
	if ns, err := w.namespaces.Get(request.Namespace); err == nil {
		project = ns.Labels[projectLabel]
	}
	if project == "" {
		ratios = ClusterRatios{} // overcommit is for project namespaces
	}

	defaults, err := w.defaultLimits(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	patch, problems, err := w.uidRange(request.Namespace, &pod, true)
	if err != nil || len(problems) > 0 {
		return admission.Verdict{Problems: problems}, err
	}
	isolation, err := w.isolate(project, &pod)
	if err != nil {
		return admission.Verdict{}, err
	}
	patch = append(patch, isolation...)
	for _, list := range []struct {
		path       string
		containers []corev1.Container
	}{{"/spec/initContainers", pod.Spec.InitContainers}, {"/spec/containers", pod.Spec.Containers}} {
		for i := range list.containers {
			if resources, changed := Overcommit(list.containers[i].Resources, defaults, ratios); changed {
				patch = append(patch, map[string]any{"op": "add", "path": fmt.Sprintf("%s/%d/resources", list.path, i), "value": resources})
			}
		}
	}
	if len(patch) == 0 {
		return admission.Verdict{}, nil
	}
	data, err := json.Marshal(patch)
	return admission.Verdict{Patch: data}, err
}

// isolate pins a pod of a project in a node isolation policy to the
// policy's nodes (a required node affinity on their label, added to
// every term the pod has) and lets it on them (a toleration of their
// taint).
func (w *Webhook) isolate(project string, pod *corev1.Pod) ([]map[string]any, error) {
	if project == "" {
		return nil, nil
	}
	policies, err := w.policies.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var policy string
	var exclusive []string
	for _, p := range policies {
		if slices.Contains(p.Spec.Projects, project) {
			policy = p.Name
		}
		if p.Spec.Exclusive == nil || *p.Spec.Exclusive {
			exclusive = append(exclusive, p.Name)
		}
	}
	// Other projects' pods are kept off exclusive nodes by a required
	// affinity too, not by the taint alone: a pod may tolerate any taint,
	// or name its node, which the kubelet checks against affinity only.
	requirement := corev1.NodeSelectorRequirement{Key: nodeisolation.NodeGroupLabel, Operator: corev1.NodeSelectorOpNotIn, Values: exclusive}
	switch {
	case policy != "":
		requirement = corev1.NodeSelectorRequirement{Key: nodeisolation.NodeGroupLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{policy}}
	case len(exclusive) == 0:
		return nil, nil
	}
	affinity := pod.Spec.Affinity.DeepCopy()
	if affinity == nil {
		affinity = &corev1.Affinity{}
	}
	if affinity.NodeAffinity == nil {
		affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	required := affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if required == nil || len(required.NodeSelectorTerms) == 0 {
		required = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{}}}
	}
	for i := range required.NodeSelectorTerms {
		required.NodeSelectorTerms[i].MatchExpressions = append(required.NodeSelectorTerms[i].MatchExpressions, requirement)
	}
	affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = required
	patch := []map[string]any{{"op": "add", "path": "/spec/affinity", "value": affinity}}
	if policy != "" {
		tolerations := append(append([]corev1.Toleration(nil), pod.Spec.Tolerations...),
			corev1.Toleration{Key: nodeisolation.NodeGroupLabel, Operator: corev1.TolerationOpEqual, Value: policy, Effect: corev1.TaintEffectNoSchedule})
		patch = append(patch, map[string]any{"op": "add", "path": "/spec/tolerations", "value": tolerations})
	}
	return patch, nil
}

// uidRange sets the range's first ID on a pod naming none and lists its
// IDs outside the range, in a namespace whose range is on.
func (w *Webhook) uidRange(namespace string, pod *corev1.Pod, defaults bool) ([]map[string]any, []string, error) {
	ns, err := w.namespaces.Get(namespace)
	if err != nil {
		return nil, nil, err
	}
	if !uidrange.Enabled(ns) {
		return nil, nil, nil
	}
	r, ok := uidrange.Of(ns)
	if !ok {
		return nil, []string{fmt.Sprintf("namespace %s is labeled %s=true but has no UID/GID range yet: archon hands one out within seconds; try again",
			namespace, uidrange.EnabledLabel)}, nil
	}
	var patch []map[string]any
	if defaults && uidrange.Default(pod, r) {
		patch = append(patch, map[string]any{"op": "add", "path": "/spec/securityContext", "value": pod.Spec.SecurityContext})
		for _, list := range []struct {
			path       string
			containers []corev1.Container
		}{{"/spec/initContainers", pod.Spec.InitContainers}, {"/spec/containers", pod.Spec.Containers}} {
			for i := range list.containers {
				patch = append(patch, map[string]any{"op": "add", "path": fmt.Sprintf("%s/%d/securityContext", list.path, i),
					"value": list.containers[i].SecurityContext})
			}
		}
	}
	var problems []string
	for _, err := range uidrange.Check(pod, r) {
		problems = append(problems, err.Error())
	}
	return patch, problems, nil
}

// ratiosOf is the ratios in force in a namespace: its
// NamespaceResourceRatio's, each absent one the cluster's.
func (w *Webhook) ratiosOf(namespace string) (ClusterRatios, error) {
	ratios := w.cluster
	list, err := w.ratios.NamespaceResourceRatios(namespace).List(labels.Everything())
	if err != nil || len(list) == 0 {
		return ratios, err
	}
	spec := list[0].Spec
	if spec.CPU != nil {
		ratios.CPU = *spec.CPU
	}
	if spec.Memory != nil {
		ratios.Memory = *spec.Memory
	}
	return ratios, nil
}

// defaultLimits are the default limits of containers the namespace's
// LimitRanges give.
func (w *Webhook) defaultLimits(namespace string) (corev1.ResourceList, error) {
	ranges, err := w.limitRanges.LimitRanges(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	defaults := corev1.ResourceList{}
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for name, quantity := range item.Default {
				if _, ok := defaults[name]; !ok {
					defaults[name] = quantity
				}
			}
		}
	}
	return defaults, nil
}
