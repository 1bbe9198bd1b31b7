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
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	authclient "github.com/acp-archon/archon/pkg/generated/clientset/versioned/typed/auth/v1"
	"github.com/acp-archon/archon/pkg/protectednamespace"
	"github.com/acp-archon/archon/pkg/quota"
)

// mergedName is the name of the quota and limit range an import leaves.
const mergedName = "default"

// Importer brings namespaces into projects in the cluster it serves.
type Importer struct {
	cluster   string
	projects  authclient.ProjectInterface
	kube      kubernetes.Interface
	quotas    *quota.Reader
	protected protectednamespace.Set
}

// NewImporter returns an importer for the cluster named cluster that
// reads projects' quotas with quotas and refuses the namespaces in
// protected.
func NewImporter(cluster string, projects authclient.ProjectInterface, kube kubernetes.Interface, quotas *quota.Reader, protected protectednamespace.Set) *Importer {
	return &Importer{cluster: cluster, projects: projects, kube: kube, quotas: quotas, protected: protected}
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

// Import imports the namespace of spec, or grants nothing and says why.
// With dryRun it only checks. Errors other than the returned status are
// refusals of protected namespaces and failures to talk to kube-apiserver.
func (im *Importer) Import(ctx context.Context, spec auth.NamespaceImportSpec, dryRun bool) (auth.NamespaceImportStatus, error) {
	return im.run(ctx, spec, dryRun, false)
}

// Resume finishes an import that was interrupted: the label, written
// last, says whether it got that far; otherwise it runs again.
func (im *Importer) Resume(ctx context.Context, spec auth.NamespaceImportSpec) (auth.NamespaceImportStatus, error) {
	return im.run(ctx, spec, false, true)
}

func (im *Importer) run(ctx context.Context, spec auth.NamespaceImportSpec, dryRun, resume bool) (auth.NamespaceImportStatus, error) {
	if resume {
		namespace, err := im.kube.CoreV1().Namespaces().Get(ctx, spec.Namespace, metav1.GetOptions{})
		if err == nil && namespace.Labels[authv1.NamespaceProjectLabel] == spec.Project {
			return succeeded(spec, &plan{}, false), nil
		}
	}
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
	return errors.As(err, f)
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
	if im.protected.Has(namespace) {
		return nil, apierrors.NewForbidden(auth.Resource("namespaceimports"), "", errors.New(protectednamespace.Refusal(spec.Namespace)))
	}
	if owner := namespace.Labels[authv1.NamespaceProjectLabel]; owner != "" {
		return nil, fail("NamespaceInProject", "namespace %s already belongs to project %s; release it first (kubectl label namespace %s %s-)",
			spec.Namespace, owner, spec.Namespace, authv1.NamespaceProjectLabel)
	}

	// kube-apiserver caches LimitRanges and ResourceQuotas apart, and a
	// consistent list waits for its resource's cache to catch up with etcd
	// (for a resource nobody writes, until etcd's next progress
	// notification): the two lists wait side by side.
	var (
		limitRanges *corev1.LimitRangeList
		quotas      *corev1.ResourceQuotaList
	)
	reads, readCtx := errgroup.WithContext(ctx)
	reads.Go(func() (err error) {
		limitRanges, err = im.kube.CoreV1().LimitRanges(spec.Namespace).List(readCtx, metav1.ListOptions{})
		return err
	})
	reads.Go(func() (err error) {
		quotas, err = im.kube.CoreV1().ResourceQuotas(spec.Namespace).List(readCtx, metav1.ListOptions{})
		return err
	})
	if err := reads.Wait(); err != nil {
		return nil, err
	}

	p := &plan{namespace: namespace}
	limitRanges.Items = withoutCopies(limitRanges.Items)
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

	p.quotas = quotas.Items
	var lists []corev1.ResourceList
	for _, q := range quotas.Items {
		lists = append(lists, q.Spec.Hard)
		if q.Name != mergedName {
			p.warnings = append(p.warnings, fmt.Sprintf("ResourceQuota %s was merged into %s and is safe to delete", q.Name, mergedName))
		}
	}
	p.merged = quota.Merge(lists...)

	// The project's quotas are read as fresh as the namespace's were: the
	// webhook reviewing the label rechecks them anyway, with reservations.
	projectQuotas, _, err := im.quotas.ProjectQuotas(ctx, spec.Project, quotas.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if problems := quota.Problems(spec.Project, spec.Cluster, limit.Quota, quota.Use(projectQuotas), p.merged); len(problems) > 0 {
		return nil, fail("QuotaExceeded", "the merged quota does not fit project %s: %s", spec.Project, strings.Join(problems, "; "))
	}
	return p, nil
}

// apply writes the merged quota and the LimitRange copy, then labels the
// namespace. The first two change nothing Kubernetes enforces (a quota
// equal to the minimum of the namespace's quotas, a second LimitRange like
// its only one), so the label, which grants the project's members their
// rights, comes last: an import interrupted before it has granted
// nothing, and running it again finishes it. The label carries the
// resourceVersion the plan was made from, so of two concurrent imports
// exactly one gets past it.
func (im *Importer) apply(ctx context.Context, spec auth.NamespaceImportSpec, p *plan) error {
	if len(p.quotas) > 0 {
		if err := im.writeQuota(ctx, spec.Namespace, p); err != nil {
			return refusal(err, spec.Namespace)
		}
	}
	if p.limitRange != nil && p.limitRange.Name != mergedName {
		copied := &corev1.LimitRange{
			ObjectMeta: metav1.ObjectMeta{Name: mergedName, Namespace: spec.Namespace, Labels: p.limitRange.Labels},
			Spec:       *p.limitRange.Spec.DeepCopy(),
		}
		if _, err := im.kube.CoreV1().LimitRanges(spec.Namespace).Create(ctx, copied, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return refusal(err, spec.Namespace)
		}
	}
	labeled := p.namespace.DeepCopy()
	if labeled.Labels == nil {
		labeled.Labels = map[string]string{}
	}
	labeled.Labels[authv1.NamespaceProjectLabel] = spec.Project
	_, err := im.kube.CoreV1().Namespaces().Update(ctx, labeled, metav1.UpdateOptions{})
	return refusal(err, spec.Namespace)
}

// refusal turns kube-apiserver refusing a write into a failed import.
func refusal(err error, namespace string) error {
	switch {
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		return fail("Conflict", "namespace %s changed while it was being imported (another import?); it did not join the project", namespace)
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return fail("Refused", "%v", err)
	}
	return err
}

// writeQuota makes the quota named default hold the merged limits.
func (im *Importer) writeQuota(ctx context.Context, namespace string, p *plan) error {
	client := im.kube.CoreV1().ResourceQuotas(namespace)
	for _, q := range p.quotas {
		if q.Name != mergedName {
			continue
		}
		updated := q.DeepCopy()
		updated.Spec.Hard = p.merged
		_, err := client.Update(ctx, updated, metav1.UpdateOptions{})
		return err
	}
	merged := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: mergedName, Namespace: namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: p.merged},
	}
	_, err := client.Create(ctx, merged, metav1.CreateOptions{})
	return err
}

// withoutCopies leaves out a LimitRange named default that holds what
// another holds: the copy an interrupted import made of the only one.
func withoutCopies(limitRanges []corev1.LimitRange) []corev1.LimitRange {
	if len(limitRanges) != 2 {
		return limitRanges
	}
	for i, lr := range limitRanges {
		other := limitRanges[1-i]
		if lr.Name == mergedName && apiequality.Semantic.DeepEqual(lr.Spec, other.Spec) {
			return []corev1.LimitRange{other}
		}
	}
	return limitRanges
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

// refused is the status of an import refused for reason.
func refused(reason, message string) auth.NamespaceImportStatus {
	return failed(&failure{reason: reason, message: message})
}

func failed(f *failure) auth.NamespaceImportStatus {
	status := auth.NamespaceImportStatus{Phase: auth.NamespaceImportFailed}
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: authv1.NamespaceImportConditionImported, Status: metav1.ConditionFalse, Reason: f.reason, Message: f.message,
	})
	return status
}
