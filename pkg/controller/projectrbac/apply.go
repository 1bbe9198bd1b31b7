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

package projectrbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/controller/keyqueue"
)

// FieldManager is the server-side apply field manager the controller
// writes as; the fields it owns are the ones desired.go sets.
const FieldManager = "archon-project-rbac"

// object is an RBAC object the controller keeps.
type object interface {
	metav1.Object
	runtime.Object
}

// client is the part of a typed RBAC client apply and prune use.
type client[T object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// kind is what apply and prune need to know of one kind of RBAC object.
type kind[T object] struct {
	// informer caches the objects of the kind labeled with
	// ManagedByProjectLabel, indexed by that label.
	informer cache.SharedIndexInformer
	client   func(namespace string) client[T]
	// same reports whether have holds what want sets, labels aside.
	same func(have, want T) bool
	// roleRef returns a binding's role, which cannot change in place; nil
	// for roles.
	roleRef func(T) rbacv1.RoleRef
	// reclaim makes an object of a desired name that someone else made,
	// or stripped of its label, the project's again (with a
	// RoleBindingRestored Event). Without it such an object is left alone
	// (with a NameTaken Event): archon never changes what it did not make.
	reclaim bool
}

// applyAll applies each object of want.
func applyAll[T object](ctx context.Context, c *Controller, k kind[T], project *authv1.Project, want map[string]T) error {
	var errs []error
	for key, obj := range want {
		// One object that cannot be applied (a binding of the name held
		// by a terminating object, say) must not keep the others from
		// being applied.
		if err := applyOne(ctx, c, k, project, key, obj); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyOne makes the object named like want hold what want sets. It reads
// the object first, because server-side apply alone would take over an
// object someone else made: such an object is left alone unless the kind
// reclaims it. An object that already holds want is not written to.
func applyOne[T object](ctx context.Context, c *Controller, k kind[T], project *authv1.Project, key string, want T) error {
	client := k.client(want.GetNamespace())
	have, found, err := read(ctx, k, client, key, want.GetName())
	if err != nil {
		return err
	}
	if !found {
		// Unforced: should someone make the object between the read and
		// this create, the fields they set conflict.
		return applyPatch(ctx, client, want, "", false)
	}
	kindName := want.GetObjectKind().GroupVersionKind().Kind
	owned := ownedBy(have, project.Name)
	roleChanged := k.roleRef != nil && k.roleRef(have) != k.roleRef(want)
	switch {
	case !owned && !k.reclaim:
		c.nameTaken(project, kindName, key)
		return nil
	case owned && !roleChanged && hasLabels(have, want.GetLabels()) && k.same(have, want):
		return nil
	case k.reclaim && (!owned || roleChanged):
		// Someone made the binding, unlabeled it or (having deleted it)
		// made it again with another role: say what was in the way.
		c.recorder.Eventf(project, corev1.EventTypeWarning, "RoleBindingRestored",
			"%s %s was changed or made by someone else (role %s, label %s=%q); archon made it the project's again",
			kindName, key, roleName(k, have), ManagedByProjectLabel, have.GetLabels()[ManagedByProjectLabel])
		klog.FromContext(ctx).Info("Restoring a project object someone changed", "project", project.Name, "kind", kindName, "object", klog.KObj(have))
	}
	if roleChanged {
		// The role of a binding cannot change: replace the binding.
		uid := have.GetUID()
		if err := ignoreNotFound(client.Delete(ctx, want.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})); err != nil {
			return err
		}
		return applyPatch(ctx, client, want, "", false)
	}
	// Forced: the object is the project's (or reclaimed), and the fields
	// someone else changed are taken back. The resourceVersion read makes
	// the write fail rather than land on an object replaced since.
	return applyPatch(ctx, client, want, have.GetResourceVersion(), true)
}

// read returns the object of the key from the cache, or else from the API
// server: the cache holds only labeled objects, and may not yet hold one
// archon made a moment ago.
func read[T object](ctx context.Context, k kind[T], client client[T], key, name string) (have T, found bool, err error) {
	cached, found, err := k.informer.GetIndexer().GetByKey(key)
	if err != nil {
		return have, false, err
	}
	if found {
		if have, ok := cached.(T); ok {
			return have, true, nil
		}
	}
	have, err = client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return have, false, nil
	}
	return have, err == nil, err
}

// applyPatch sends want as a server-side apply request. A resourceVersion
// makes it fail with a conflict if the object changed since.
func applyPatch[T object](ctx context.Context, client client[T], want T, resourceVersion string, force bool) error {
	obj := want.DeepCopyObject()
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	accessor.SetResourceVersion(resourceVersion)
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = client.Patch(ctx, want.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	if err != nil {
		return fmt.Errorf("applying %s %s: %w", want.GetObjectKind().GroupVersionKind().Kind, cache.MetaObjectToName(want), err)
	}
	return nil
}

// pruneAll deletes the objects of the kind labeled with project that want
// does not hold. The UID precondition spares an object made again under
// the name since the cache saw it.
func pruneAll[T object](ctx context.Context, k kind[T], project string, want map[string]T) error {
	have, err := keyqueue.ByLabel[T](k.informer, ManagedByProjectLabel, project)
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range have {
		if _, keep := want[cache.MetaObjectToName(obj).String()]; keep {
			continue
		}
		uid := obj.GetUID()
		err := k.client(obj.GetNamespace()).Delete(ctx, obj.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		errs = append(errs, ignoreNotFound(err))
	}
	return errors.Join(errs...)
}

// nameTaken tells the project's readers that an object it needs has been
// made by someone else, and what that costs its members.
func (c *Controller) nameTaken(project *authv1.Project, kind, name string) {
	c.recorder.Eventf(project, corev1.EventTypeWarning, "NameTaken",
		"%s %s exists and was not made by archon, so it is left alone; the project's members lack the rights it would grant until a cluster administrator deletes it",
		kind, name)
}

// ownedBy reports whether obj was made by this controller for project.
func ownedBy(obj metav1.Object, project string) bool {
	return obj.GetLabels()[ManagedByProjectLabel] == project
}

// hasLabels reports whether obj carries every label of want.
func hasLabels(obj metav1.Object, want map[string]string) bool {
	for key, value := range want {
		if obj.GetLabels()[key] != value {
			return false
		}
	}
	return true
}

func roleName[T object](k kind[T], obj T) string {
	if k.roleRef == nil {
		return ""
	}
	return k.roleRef(obj).Name
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
