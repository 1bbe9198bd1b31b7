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

package namespaceimport

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	authclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned/typed/auth/v1"
	"github.com/acp-archon/archon/pkg/quota"
)

// mergedName is the name of the quota and limit range an import leaves.
const mergedName = "default"

// Importer brings namespaces into projects in the cluster it serves.
type Importer struct {
	cluster  string
	projects authclient.ProjectInterface
	kube     kubernetes.Interface
}

// NewImporter returns an importer for the cluster named cluster.
func NewImporter(cluster string, projects authclient.ProjectInterface, kube kubernetes.Interface) *Importer {
	return &Importer{cluster: cluster, projects: projects, kube: kube}
}

// failure is a reason an import cannot go ahead; it becomes the Imported
// condition of a Failed record.
type failure struct {
	reason, message string
}

func (f *failure) Error() string { return f.message }

func fail(reason, format string, args ...any) *failure {
	return &failure{reason: reason, message: fmt.Sprintf(format, args...)}
}

// plan is everything an import will write, worked out before any write.
type plan struct {
	namespace  *corev1.Namespace
	quotas     []corev1.ResourceQuota
	merged     corev1.ResourceList
	limitRange *corev1.LimitRange
	warnings   []string
}

// Import imports the namespace of spec, or changes nothing and says why.
// With dryRun it only checks. Errors other than the returned status are
// failures to talk to kube-apiserver.
func (im *Importer) Import(ctx context.Context, spec auth.NamespaceImportSpec, dryRun bool) (auth.NamespaceImportStatus, error) {
	p, err := im.plan(ctx, spec)
	if err == nil && !dryRun {
		err = im.apply(ctx, spec, p)
	}
	var f *failure
	switch {
	case err == nil:
		return succeeded(spec, p, dryRun), nil
	case asFailure(err, &f):
		return failed(f), nil
	default:
		return auth.NamespaceImportStatus{}, err
	}
}

func asFailure(err error, f **failure) bool {
	failure, ok := err.(*failure)
	*f = failure
	return ok
}

func (im *Importer) plan(ctx context.Context, spec auth.NamespaceImportSpec) (*plan, error) {
	if spec.Cluster != im.cluster {
		return nil, fail("ClusterNotServed", "this archon serves cluster %s, not %s; create the import in that cluster's archon", im.cluster, spec.Cluster)
	}
	project, err := im.projects.Get(ctx, spec.Project, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fail("ProjectNotFound", "project %s does not exist", spec.Project)
	} else if err != nil {
		return nil, err
	}
	var limit *authv1.ProjectCluster
	for i := range project.Spec.Clusters {
		if project.Spec.Clusters[i].Name == spec.Cluster {
			limit = &project.Spec.Clusters[i]
		}
	}
	if limit == nil {
		return nil, fail("ClusterNotInProject", "project %s does not include cluster %s", spec.Project, spec.Cluster)
	}

	namespace, err := im.kube.CoreV1().Namespaces().Get(ctx, spec.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fail("NamespaceNotFound", "namespace %s does not exist", spec.Namespace)
	} else if err != nil {
		return nil, err
	}
	if owner := namespace.Labels[authv1.NamespaceProjectLabel]; owner != "" {
		return nil, fail("NamespaceInProject", "namespace %s already belongs to project %s; release it first (kubectl label namespace %s %s-)",
			spec.Namespace, owner, spec.Namespace, authv1.NamespaceProjectLabel)
	}

	p := &plan{namespace: namespace}
	limitRanges, err := im.kube.CoreV1().LimitRanges(spec.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	switch len(limitRanges.Items) {
	case 0:
	case 1:
		p.limitRange = &limitRanges.Items[0]
		if p.limitRange.Name != mergedName {
			p.warnings = append(p.warnings, fmt.Sprintf("LimitRange %s was copied to %s and is safe to delete", p.limitRange.Name, mergedName))
		}
	default:
		var names []string
		for _, lr := range limitRanges.Items {
			names = append(names, lr.Name)
		}
		sort.Strings(names)
		return nil, fail("SeveralLimitRanges", "namespace %s has %d LimitRanges (%s), which cannot be merged; keep one and import again",
			spec.Namespace, len(names), strings.Join(names, ", "))
	}

	quotas, err := im.kube.CoreV1().ResourceQuotas(spec.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	p.quotas = quotas.Items
	var lists []corev1.ResourceList
	for _, q := range quotas.Items {
		lists = append(lists, q.Spec.Hard)
		if q.Name != mergedName {
			p.warnings = append(p.warnings, fmt.Sprintf("ResourceQuota %s was merged into %s and is safe to delete", q.Name, mergedName))
		}
	}
	p.merged = quota.Merge(lists...)

	projectQuotas, err := quota.ProjectQuotas(ctx, im.kube, spec.Project)
	if err != nil {
		return nil, err
	}
	if problems := quota.Problems(spec.Project, spec.Cluster, limit.Quota, quota.Use(projectQuotas), p.merged); len(problems) > 0 {
		return nil, fail("QuotaExceeded", "the merged quota does not fit project %s: %s", spec.Project, strings.Join(problems, "; "))
	}
	return p, nil
}

// apply labels the namespace first: the update carries the resourceVersion
// the plan was made from, so of two concurrent imports exactly one gets
// past it. If a later write fails, the earlier ones are undone.
func (im *Importer) apply(ctx context.Context, spec auth.NamespaceImportSpec, p *plan) error {
	namespaces := im.kube.CoreV1().Namespaces()
	labelled := p.namespace.DeepCopy()
	if labelled.Labels == nil {
		labelled.Labels = map[string]string{}
	}
	labelled.Labels[authv1.NamespaceProjectLabel] = spec.Project
	labelled, err := namespaces.Update(ctx, labelled, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		return fail("Conflict", "namespace %s changed while it was being imported (another import?); nothing was changed", spec.Namespace)
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return fail("Refused", "labelling namespace %s was refused: %v", spec.Namespace, err)
	case err != nil:
		return err
	}
	var undo []func()
	rollback := func(cause error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		released := labelled.DeepCopy()
		delete(released.Labels, authv1.NamespaceProjectLabel)
		if _, err := namespaces.Update(context.WithoutCancel(ctx), released, metav1.UpdateOptions{}); err != nil {
			klog.ErrorS(err, "Releasing a namespace after a failed import", "namespace", spec.Namespace)
		}
		if apierrors.IsForbidden(cause) || apierrors.IsInvalid(cause) {
			return fail("Refused", "%v", cause)
		}
		return cause
	}

	if len(p.quotas) > 0 {
		undoQuota, err := im.writeQuota(ctx, spec.Namespace, p)
		if err != nil {
			return rollback(err)
		}
		undo = append(undo, undoQuota)
	}
	if p.limitRange != nil && p.limitRange.Name != mergedName {
		copied := &corev1.LimitRange{
			ObjectMeta: metav1.ObjectMeta{Name: mergedName, Namespace: spec.Namespace, Labels: p.limitRange.Labels},
			Spec:       *p.limitRange.Spec.DeepCopy(),
		}
		if _, err := im.kube.CoreV1().LimitRanges(spec.Namespace).Create(ctx, copied, metav1.CreateOptions{}); err != nil {
			return rollback(err)
		}
	}
	return nil
}

// writeQuota makes the quota named default hold the merged limits and
// returns how to undo that.
func (im *Importer) writeQuota(ctx context.Context, namespace string, p *plan) (func(), error) {
	client := im.kube.CoreV1().ResourceQuotas(namespace)
	for _, q := range p.quotas {
		if q.Name != mergedName {
			continue
		}
		original := q.DeepCopy()
		updated := q.DeepCopy()
		updated.Spec.Hard = p.merged
		written, err := client.Update(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			return nil, err
		}
		return func() {
			original.ResourceVersion = written.ResourceVersion
			if _, err := client.Update(context.WithoutCancel(ctx), original, metav1.UpdateOptions{}); err != nil {
				klog.ErrorS(err, "Restoring a quota after a failed import", "namespace", namespace)
			}
		}, nil
	}
	merged := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: mergedName, Namespace: namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: p.merged},
	}
	if _, err := client.Create(ctx, merged, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	return func() {
		if err := client.Delete(context.WithoutCancel(ctx), mergedName, metav1.DeleteOptions{}); err != nil {
			klog.ErrorS(err, "Removing a quota after a failed import", "namespace", namespace)
		}
	}, nil
}

func succeeded(spec auth.NamespaceImportSpec, p *plan, dryRun bool) auth.NamespaceImportStatus {
	status := auth.NamespaceImportStatus{Phase: auth.NamespaceImportSucceeded, Warnings: p.warnings}
	if len(p.quotas) > 0 {
		status.Quota = p.merged
	}
	if p.limitRange != nil {
		status.LimitRange = p.limitRange.Name
	}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: authv1.NamespaceImportConditionImported, Status: metav1.ConditionTrue, Reason: "Imported",
		Message: fmt.Sprintf("namespace %s %s project %s", spec.Namespace, map[bool]string{false: "joined", true: "can join"}[dryRun], spec.Project),
	})
	return status
}

func failed(f *failure) auth.NamespaceImportStatus {
	status := auth.NamespaceImportStatus{Phase: auth.NamespaceImportFailed}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: authv1.NamespaceImportConditionImported, Status: metav1.ConditionFalse, Reason: f.reason, Message: f.message,
	})
	return status
}
