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
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/apis/auth"
	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	"github.com/acp-archon/archon/pkg/apis/auth/validation"
	"github.com/acp-archon/archon/pkg/authz"
	"github.com/acp-archon/archon/pkg/protectednamespace"
)

// REST serves namespaceimports: create, get, list, watch and delete of
// the records. It offers no update: a record says what happened.
type REST struct {
	store *genericregistry.Store
	// completion writes an import's outcome into its record, which the
	// store's own strategy never lets change.
	completion *genericregistry.Store
	importer   *Importer
	authorizer authorizer.Authorizer
	protected  protectednamespace.Set
}

var (
	_ rest.Creater                = &REST{}
	_ rest.Getter                 = &REST{}
	_ rest.Lister                 = &REST{}
	_ rest.Watcher                = &REST{}
	_ rest.GracefulDeleter        = &REST{}
	_ rest.SingularNameProvider   = &REST{}
	_ rest.Scoper                 = &REST{}
	_ rest.TableConvertor         = &REST{}
	_ rest.StorageVersionProvider = &REST{}
	_ rest.ShortNamesProvider     = &REST{}
)

// NewStorage returns the storage of namespace imports performed by importer.
// Namespaces in protected are refused before anything else.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, importer *Importer, authz authorizer.Authorizer, protected protectednamespace.Set) (*REST, error) {
	s := strategy{scheme, names.SimpleNameGenerator}
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &auth.NamespaceImport{} },
		NewListFunc:               func() runtime.Object { return &auth.NamespaceImportList{} },
		PredicateFunc:             matchNamespaceImport,
		DefaultQualifiedResource:  auth.Resource("namespaceimports"),
		SingularQualifiedResource: auth.Resource("namespaceimport"),
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		TableConvertor:            tableConvertor{},
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	completion := *store
	completion.UpdateStrategy = statusStrategy{s}
	return &REST{store: store, completion: &completion, importer: importer, authorizer: authz, protected: protected}, nil
}

// Create imports the namespace, then stores the record with the outcome.
// Malformed requests get 422; callers who may not change the project and
// the namespace, and protected namespaces, 403; imports the platform rules
// refuse are stored as Failed.
func (r *REST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	imp := obj.(*auth.NamespaceImport)
	// Validated here as well as by the strategy when the record is
	// stored: the import acts on the cluster before the record is
	// written, and must not act on a malformed request.
	if errs := validation.ValidateNamespaceImport(imp); len(errs) > 0 {
		return nil, apierrors.NewInvalid(auth.Kind("NamespaceImport"), imp.Name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, obj); err != nil {
			return nil, err
		}
	}
	u, _ := genericapirequest.UserFrom(ctx)
	if err := r.authorize(ctx, u, imp); err != nil {
		return nil, err
	}
	if len(options.DryRun) > 0 {
		status, err := r.importer.Import(ctx, imp.Spec, true)
		if err != nil {
			return nil, err
		}
		imp.Status = status
		return r.store.Create(ctx, imp, nil, options)
	}
	// The record comes first: a name already taken changes nothing, and
	// an import archon is interrupted in is found by its phase. It says
	// who asked, whose rights an interrupted import is finished with.
	requestedBy, err := json.Marshal(requesterOf(u))
	if err != nil {
		return nil, err
	}
	if imp.Annotations == nil {
		imp.Annotations = map[string]string{}
	}
	imp.Annotations[authv1.ImportRequesterAnnotation] = string(requestedBy)
	imp.Status = auth.NamespaceImportStatus{Phase: auth.NamespaceImportImporting}
	stored, err := r.store.Create(ctx, imp, nil, options)
	if err != nil {
		return nil, err
	}
	created := stored.(*auth.NamespaceImport)
	status, err := r.importer.Import(ctx, imp.Spec, false)
	// The outcome is written even when the caller has gone.
	ctx = context.WithoutCancel(ctx)
	if apierrors.IsForbidden(err) {
		if _, recordErr := r.complete(ctx, created, refused("Forbidden", err.Error())); recordErr != nil {
			klog.ErrorS(recordErr, "Recording a refused namespace import failed", "import", created.Name)
		}
		return nil, err
	}
	if err != nil {
		// Left Importing: RecoverInterrupted finishes it, if who asked
		// still may.
		return nil, err
	}
	return r.complete(ctx, created, status)
}

// requester is who asked for an import, as its record keeps it.
type requester struct {
	Name   string              `json:"name"`
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
}

func requesterOf(u user.Info) requester {
	if u == nil {
		return requester{}
	}
	return requester{Name: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra()}
}

// requesterFrom reads who asked for an import from its record; nil when
// the record does not say.
func requesterFrom(imp *auth.NamespaceImport) user.Info {
	var r requester
	if err := json.Unmarshal([]byte(imp.Annotations[authv1.ImportRequesterAnnotation]), &r); err != nil || r.Name == "" {
		return nil
	}
	return &user.DefaultInfo{Name: r.Name, UID: r.UID, Groups: r.Groups, Extra: r.Extra}
}

// complete writes an import's outcome into its record.
func (r *REST) complete(ctx context.Context, imp *auth.NamespaceImport, status auth.NamespaceImportStatus) (runtime.Object, error) {
	done := imp.DeepCopy()
	done.Status = status
	obj, _, err := r.completion.Update(ctx, imp.Name, rest.DefaultUpdatedObjectInfo(done), nil, nil, false, &metav1.UpdateOptions{})
	return obj, err
}

// interruptedAge is how long an import must have been Importing before it
// counts as interrupted: a request lasts a minute at most.
const interruptedAge = 2 * time.Minute

// RecoverInterrupted finishes, every minute until ctx is done, the
// imports an archon stopped in the middle of (FinishInterrupted).
func (r *REST) RecoverInterrupted(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { r.FinishInterrupted(ctx, interruptedAge) }, time.Minute)
}

// FinishInterrupted finishes the imports whose records say Importing and
// are older than olderThan: the request that made them is gone. Each is
// finished only if who asked may still do it, and runs again or finds its
// last write (the label) done.
func (r *REST) FinishInterrupted(ctx context.Context, olderThan time.Duration) {
	listed, err := r.store.List(ctx, &metainternalversion.ListOptions{
		FieldSelector: fields.OneTermEqualSelector(auth.NamespaceImportPhaseField, string(auth.NamespaceImportImporting)),
	})
	if err != nil {
		klog.ErrorS(err, "Listing interrupted namespace imports failed")
		return
	}
	for i := range listed.(*auth.NamespaceImportList).Items {
		imp := &listed.(*auth.NamespaceImportList).Items[i]
		if time.Since(imp.CreationTimestamp.Time) < olderThan {
			continue
		}
		var status auth.NamespaceImportStatus
		if err := r.authorize(ctx, requesterFrom(imp), imp); err != nil {
			status = refused("Forbidden", "interrupted, and not finished: "+err.Error())
		} else if status, err = r.importer.Resume(ctx, imp.Spec); apierrors.IsForbidden(err) {
			status = refused("Forbidden", err.Error())
		} else if err != nil {
			klog.ErrorS(err, "Finishing an interrupted namespace import failed; trying again", "import", imp.Name)
			continue
		}
		if _, err := r.complete(ctx, imp, status); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "Recording an interrupted namespace import failed", "import", imp.Name)
			continue
		}
		klog.InfoS("Finished an interrupted namespace import", "import", imp.Name, "phase", status.Phase)
	}
}

// authorize lets an import go ahead only for callers who may update both
// the project and the namespace, and never for a namespace protected by
// its name. It runs before anything about the namespace is read, dry runs
// included, so a refusal tells the caller nothing they could not know.
func (r *REST) authorize(ctx context.Context, u user.Info, imp *auth.NamespaceImport) error {
	if r.protected.ByName(imp.Spec.Namespace) {
		return apierrors.NewForbidden(auth.Resource("namespaceimports"), imp.Name, errors.New(protectednamespace.Refusal(imp.Spec.Namespace)))
	}
	if r.authorizer == nil {
		return nil
	}
	if u == nil {
		return apierrors.NewForbidden(auth.Resource("namespaceimports"), imp.Name, authz.ErrNoUser)
	}
	for _, check := range []struct {
		attrs authorizer.AttributesRecord
		need  string
	}{
		{authorizer.AttributesRecord{Verb: "update", APIGroup: auth.GroupName, APIVersion: "v1", Resource: "projects", Name: imp.Spec.Project, ResourceRequest: true},
			fmt.Sprintf("importing into project %s needs permission to update it", imp.Spec.Project)},
		{authorizer.AttributesRecord{Verb: "update", APIVersion: "v1", Resource: "namespaces", Name: imp.Spec.Namespace, ResourceRequest: true},
			fmt.Sprintf("importing namespace %s needs permission to update it (kubectl auth can-i update namespace/%s)", imp.Spec.Namespace, imp.Spec.Namespace)},
	} {
		if allowed, _ := authz.UserAllowed(ctx, r.authorizer, u, check.attrs); !allowed {
			return apierrors.NewForbidden(auth.Resource("namespaceimports"), imp.Name, errors.New(check.need))
		}
	}
	return nil
}

func (r *REST) New() runtime.Object     { return r.store.New() }
func (r *REST) NewList() runtime.Object { return r.store.NewList() }
func (r *REST) Destroy()                { r.store.Destroy() }
func (r *REST) NamespaceScoped() bool   { return false }
func (r *REST) GetSingularName() string { return "namespaceimport" }
func (r *REST) ShortNames() []string    { return []string{"nsimport"} }

func (r *REST) StorageVersion() runtime.GroupVersioner { return r.store.StorageVersion() }

func (r *REST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	return r.store.List(ctx, options)
}

func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	return r.store.Watch(ctx, options)
}

// Delete removes the record only; the namespace stays in the project.
func (r *REST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	return r.store.Delete(ctx, name, deleteValidation, options)
}

func (r *REST) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, object, tableOptions)
}
