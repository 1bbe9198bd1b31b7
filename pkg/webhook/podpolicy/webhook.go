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
// containers' requests.
package podpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	resourcelisters "github.com/acp-archon/archon/pkg/generated/listers/resource/v1"
	"github.com/acp-archon/archon/pkg/webhook/admission"
)

// Path is where kube-apiserver sends the reviews of pods (mutating).
const Path = "/admission/pods"

// ClusterRatios are the cluster's overcommit ratios (0: none).
type ClusterRatios struct {
	CPU, Memory int64
}

// Webhook admits pods.
type Webhook struct {
	ratios      resourcelisters.NamespaceResourceRatioLister
	limitRanges corev1listers.LimitRangeLister
	synced      []cache.InformerSynced
	cluster     ClusterRatios
}

// New returns the webhook reading the namespaces' ratios and LimitRanges
// from their listers once synced, with the cluster's ratios.
func New(ratios resourcelisters.NamespaceResourceRatioLister, limitRanges corev1listers.LimitRangeLister, cluster ClusterRatios,
	synced ...cache.InformerSynced) *Webhook {
	return &Webhook{ratios: ratios, limitRanges: limitRanges, cluster: cluster, synced: synced}
}

// Serve answers an admission review of a pod.
func (w *Webhook) Serve(rw http.ResponseWriter, r *http.Request) {
	admission.Serve(rw, r, "the pod policies", w.Review)
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
// overcommit ratio.
func (w *Webhook) Review(_ context.Context, request *admissionv1.AdmissionRequest) (admission.Verdict, error) {
	if request.Operation != admissionv1.Create || request.Kind.Kind != "Pod" || request.SubResource != "" {
		return admission.Verdict{}, nil
	}
	if err := w.Ready(nil); err != nil {
		return admission.Verdict{}, err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(request.Object.Raw, &pod); err != nil {
		return admission.Verdict{}, fmt.Errorf("decoding the pod: %w", err)
	}
	ratios, err := w.ratiosOf(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	defaults, err := w.defaultLimits(request.Namespace)
	if err != nil {
		return admission.Verdict{}, err
	}
	var patch []map[string]any
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
