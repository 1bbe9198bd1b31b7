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

package application

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/acp-archon/archon/pkg/export"
)

// RollbackFieldManager owns the fields a rollback applies.
const RollbackFieldManager = "archon-rollback"

// RolledBack is what a rollback did, or in a dry run would do.
type RolledBack struct {
	Applied, Deleted []ResourceReference
}

// rollbackWrite is one write of a rollback: an apply or a delete.
type rollbackWrite struct {
	resource schema.GroupVersionResource
	obj      *unstructured.Unstructured
	delete   bool
}

// Rollback brings the application back to the objects a revision
// recorded, with client (the caller's, so that RBAC decides): each object
// is applied (server-side apply, field manager archon-rollback, taking
// over the fields it sets) and each live component the revision does not
// hold is deleted. Every write is first made as a dry run: a refusal
// returns kube-apiserver's error, naming the object and the right, before
// anything is written. Secrets are applied without values (a revision
// holds none): their data stays as it is. Fields that others set since and
// the revision does not hold stay too, as server-side apply leaves them.
func (r *Reader) Rollback(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, live, revision []*unstructured.Unstructured, dryRun bool) (RolledBack, error) {
	namespace := app.GetNamespace()
	var writes []rollbackWrite
	var result RolledBack
	kept := map[string]bool{}
	for _, recorded := range revision {
		gk := recorded.GroupVersionKind().GroupKind()
		mapping, err := r.Mapping(gk)
		if err != nil {
			return RolledBack{}, apierrors.NewBadRequest(fmt.Sprintf("the revision holds %s %s, a kind the cluster does not serve", gk, recorded.GetName()))
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			return RolledBack{}, apierrors.NewBadRequest(fmt.Sprintf("the revision holds %s %s, which is not of a namespace: an application holds objects of its own", gk, recorded.GetName()))
		}
		obj := forApply(recorded, namespace)
		if isApplication(obj) && obj.GetName() != app.GetName() {
			return RolledBack{}, apierrors.NewBadRequest(fmt.Sprintf("the revision holds application %s, not %s", obj.GetName(), app.GetName()))
		}
		writes = append(writes, rollbackWrite{resource: mapping.Resource, obj: obj})
		kept[componentKey(obj)] = true
		result.Applied = append(result.Applied, ResourceReference{Kind: obj.GetKind(), Name: obj.GetName()})
	}
	for _, obj := range live {
		if kept[componentKey(obj)] {
			continue
		}
		mapping, err := r.Mapping(obj.GroupVersionKind().GroupKind())
		if err != nil {
			return RolledBack{}, err
		}
		writes = append(writes, rollbackWrite{resource: mapping.Resource, obj: obj, delete: true})
		result.Deleted = append(result.Deleted, ResourceReference{Kind: obj.GetKind(), Name: obj.GetName()})
	}
	for _, trial := range []bool{true, false} {
		if !trial && dryRun {
			break
		}
		for i, w := range writes {
			if err := w.do(ctx, client, namespace, trial); err != nil {
				if !trial && i > 0 {
					return RolledBack{}, fmt.Errorf("the rollback stopped after %d of %d writes: %w", i, len(writes), err)
				}
				return RolledBack{}, err
			}
		}
	}
	return result, nil
}

func (w rollbackWrite) do(ctx context.Context, client dynamic.Interface, namespace string, dryRun bool) error {
	var dry []string
	if dryRun {
		dry = []string{metav1.DryRunAll}
	}
	resource := client.Resource(w.resource).Namespace(namespace)
	if w.delete {
		uid := w.obj.GetUID()
		err := resource.Delete(ctx, w.obj.GetName(), metav1.DeleteOptions{DryRun: dry, Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	_, err := resource.Apply(ctx, w.obj.GetName(), w.obj, metav1.ApplyOptions{FieldManager: RollbackFieldManager, Force: true, DryRun: dry})
	return err
}

// forApply is a recorded object ready to apply in namespace: a Secret
// without the values the revision left out.
func forApply(recorded *unstructured.Unstructured, namespace string) *unstructured.Unstructured {
	obj := recorded.DeepCopy()
	obj.SetNamespace(namespace)
	if annotations := obj.GetAnnotations(); annotations[export.OmittedAnnotation] != "" {
		unstructured.RemoveNestedField(obj.Object, "data")
		unstructured.RemoveNestedField(obj.Object, "stringData")
		delete(annotations, export.OmittedAnnotation)
		if len(annotations) == 0 {
			annotations = nil
		}
		obj.SetAnnotations(annotations)
	}
	return obj
}

func componentKey(obj *unstructured.Unstructured) string {
	return obj.GroupVersionKind().Group + "/" + obj.GetKind() + "/" + obj.GetName()
}
