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
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
)

// Kind is the kind of an Application.
const Kind = "Application"

// Member names a resource of an application's namespace; Path is where
// the request named it, for errors.
type Member struct {
	Kind schema.GroupKind
	Name string
	Path *field.Path
}

func (m Member) String() string { return m.Kind.Kind + "/" + m.Name }

// key is the member without where it was named, to find it by.
func (m Member) key() Member { return Member{Kind: m.Kind, Name: m.Name} }

// MemberOf names obj as a member.
func MemberOf(obj *unstructured.Unstructured) Member {
	return Member{Kind: obj.GroupVersionKind().GroupKind(), Name: obj.GetName()}
}

// membershipLabels are the labels that make a resource match the
// application's selector: its matchLabels. A selector with expressions,
// or none, cannot be met by labeling: imports and removals need
// matchLabels alone.
func membershipLabels(app *unstructured.Unstructured, spec Spec) (map[string]string, error) {
	if spec.Selector == nil || len(spec.Selector.MatchLabels) == 0 || len(spec.Selector.MatchExpressions) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf(
			"application %s: imports and removals label resources with spec.selector.matchLabels, and its selector has %s: give it matchLabels alone, such as app.kubernetes.io/name: %s",
			app.GetName(), selectorShape(spec.Selector), app.GetName()))
	}
	return spec.Selector.MatchLabels, nil
}

func selectorShape(selector *metav1.LabelSelector) string {
	switch {
	case selector == nil:
		return "none"
	case len(selector.MatchExpressions) > 0:
		return "matchExpressions"
	default:
		return "no matchLabels"
	}
}

// Claimants are applications read once, to ask resource after resource
// which of them claim it.
type Claimants []claimant

type claimant struct {
	name, namespace string
	kinds           []metav1.GroupKind
	// selector is nil when the application selects nothing: no selector,
	// an empty one, or one that does not parse.
	selector labels.Selector
}

// ClaimantsOf reads apps as claimants. Applications whose spec does not
// decode select nothing, but are still owners.
func ClaimantsOf(apps []*unstructured.Unstructured) Claimants {
	claimants := make(Claimants, 0, len(apps))
	for _, app := range apps {
		c := claimant{name: app.GetName(), namespace: app.GetNamespace()}
		if spec, err := SpecOf(app); err == nil && spec.Selector != nil {
			if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !selector.Empty() {
				c.kinds, c.selector = spec.ComponentKinds, selector
			}
		}
		claimants = append(claimants, c)
	}
	return claimants
}

// Claims says which applications claim a resource of kind with meta obj:
// those whose selector matches its labels and whose componentKinds hold
// its kind, and those it names as an owner. The names are sorted.
func (cs Claimants) Claims(kind schema.GroupKind, obj metav1.Object) []string {
	var names []string
	for _, c := range cs {
		if c.namespace == obj.GetNamespace() && (IsOwnedBy(obj, c.name) || c.selects(kind, obj)) {
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	return names
}

// Selecting says which applications claim a resource of kind with meta
// obj by their selector and kinds alone, owners aside. The names are
// sorted.
func (cs Claimants) Selecting(kind schema.GroupKind, obj metav1.Object) []string {
	var names []string
	for _, c := range cs {
		if c.namespace == obj.GetNamespace() && c.selects(kind, obj) {
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	return names
}

func (c claimant) selects(kind schema.GroupKind, obj metav1.Object) bool {
	if c.selector == nil || !c.selector.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	for _, k := range c.kinds {
		if schema.GroupKind(k) == kind {
			return true
		}
	}
	return false
}

// Claims says which of apps claim a resource of kind with meta obj (see
// Claimants.Claims).
func Claims(apps []*unstructured.Unstructured, kind schema.GroupKind, obj metav1.Object) []string {
	return ClaimantsOf(apps).Claims(kind, obj)
}

func (s Spec) holds(kind schema.GroupKind) bool {
	for _, k := range s.ComponentKinds {
		if schema.GroupKind(k) == kind {
			return true
		}
	}
	return false
}

// IsOwnedBy says whether obj names the application name as an owner.
func IsOwnedBy(obj metav1.Object, name string) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if IsApplicationReference(ref) && ref.Name == name {
			return true
		}
	}
	return false
}

// IsApplicationReference says whether ref names an Application.
func IsApplicationReference(ref metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == Resource.Group && ref.Kind == Kind
}

// OwnerReference is the reference making app the owner of its components.
// It does not block the application's deletion: the garbage collector
// deletes the components after it.
func OwnerReference(app *unstructured.Unstructured) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: Resource.GroupVersion().String(), Kind: Kind, Name: app.GetName(), UID: app.GetUID()}
}

// Membership is an import into or a removal from an application: the
// members changed, and what was written.
type Membership struct {
	Members []Member
}

// membershipWrite is one merge patch of an import or a removal.
type membershipWrite struct {
	resource schema.GroupVersionResource
	name     string
	patch    []byte
	// undo is the merge patch giving back what patch changes.
	undo []byte
}

// Import makes members of the application app's namespace its
// components, with client (the caller's, so that RBAC decides): each is
// labeled with the selector's matchLabels and owned by the application
// when spec.addOwnerRef says so (not owned when it does not), and kinds
// the application lacks join spec.componentKinds. No members means the
// current components, whose owner references then follow
// spec.addOwnerRef. A member that another application claims is a 409
// naming it; an Ingress routing to a Service outside the application
// after the import, or a bad kind, is a field error. Every write is first
// made as a dry run, so a refusal changes nothing; every write carries
// the resourceVersion read, so nothing written meanwhile is overwritten.
func (r *Reader) Import(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, components []*unstructured.Unstructured,
	members []Member, dryRun bool) (Membership, field.ErrorList, error) {
	spec, err := SpecOf(app)
	if err != nil {
		return Membership{}, nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: %v", app.GetName(), err))
	}
	want, err := membershipLabels(app, spec)
	if err != nil {
		return Membership{}, nil, err
	}
	members, objects, mappings, errs, err := r.resolve(ctx, client, app, components, members)
	if err != nil || len(errs) > 0 {
		return Membership{}, errs, err
	}
	others, err := otherApplications(ctx, client, app)
	if err != nil {
		return Membership{}, nil, err
	}
	after := map[Member]bool{}
	for _, c := range components {
		after[MemberOf(c)] = true
	}
	claimants := ClaimantsOf(others)
	for i, obj := range objects {
		// Judge the object as the import leaves it: its new labels may
		// match another application's selector too.
		joined := obj.DeepCopy()
		labels := joined.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		for k, v := range want {
			labels[k] = v
		}
		joined.SetLabels(labels)
		if claimed := claimants.Claims(members[i].Kind, joined); len(claimed) > 0 {
			return Membership{}, nil, apierrors.NewConflict(mappings[i].Resource.GroupResource(), obj.GetName(), fmt.Errorf(
				"%s belongs to application %s, and a resource belongs to at most one: remove it there first (kubectl acp app remove %s %s)",
				members[i], claimed[0], claimed[0], strings.ToLower(members[i].String())))
		}
		after[members[i].key()] = true
	}
	for _, route := range strayRoutes(objects, members, after) {
		errs = append(errs, field.Invalid(route.ingress.Path, route.ingress.String(), fmt.Sprintf(
			"routes to Service/%s, which is not in application %s: an application's Ingress routes to its own Services; import Service/%s too",
			route.service, app.GetName(), route.service)))
	}
	if len(errs) > 0 {
		return Membership{}, errs, nil
	}

	var writes []membershipWrite
	if patch := componentKindsPatch(app, spec, members); patch != nil {
		writes = append(writes, membershipWrite{resource: Resource, name: app.GetName(), patch: patch, undo: componentKindsUndo(app)})
	}
	for i, obj := range objects {
		labelPatch := map[string]any{}
		for k, v := range want {
			if obj.GetLabels()[k] != v {
				labelPatch[k] = v
			}
		}
		refs, refsChanged := ownerReferences(obj, app, spec.AddOwnerRef)
		if patch := metadataPatch(obj, labelPatch, refs, refsChanged); patch != nil {
			writes = append(writes, membershipWrite{resource: mappings[i].Resource, name: obj.GetName(), patch: patch,
				undo: metadataUndo(obj, labelPatch, refsChanged)})
		}
	}
	if err := patchAll(ctx, client, app.GetNamespace(), writes, dryRun); err != nil {
		return Membership{}, nil, err
	}
	return Membership{Members: members}, nil, nil
}

// Remove dissociates members from the application app without deleting
// them, with client (the caller's): the selector's labels and the
// application's owner reference come off. A member that is not a
// component, or a Service an Ingress staying in the application routes
// to, is a field error. Writes are made as in Import.
func (r *Reader) Remove(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, components []*unstructured.Unstructured,
	members []Member, dryRun bool) (Membership, field.ErrorList, error) {
	spec, err := SpecOf(app)
	if err != nil {
		return Membership{}, nil, apierrors.NewBadRequest(fmt.Sprintf("application %s: %v", app.GetName(), err))
	}
	want, err := membershipLabels(app, spec)
	if err != nil {
		return Membership{}, nil, err
	}
	members, objects, mappings, errs, err := r.resolve(ctx, client, app, components, members)
	if err != nil || len(errs) > 0 {
		return Membership{}, errs, err
	}
	current := map[Member]*unstructured.Unstructured{}
	for _, c := range components {
		current[MemberOf(c)] = c
	}
	for i, obj := range objects {
		if _, ok := current[members[i].key()]; !ok && !IsOwnedBy(obj, app.GetName()) {
			errs = append(errs, field.Invalid(members[i].Path, members[i].String(),
				fmt.Sprintf("not a component of application %s", app.GetName())))
		}
	}
	if len(errs) > 0 {
		return Membership{}, errs, nil
	}
	after := map[Member]bool{}
	for m := range current {
		after[m] = true
	}
	for _, m := range members {
		delete(after, m.key())
	}
	var staying []*unstructured.Unstructured
	var stayingMembers []Member
	for m, obj := range current {
		if after[m] {
			staying, stayingMembers = append(staying, obj), append(stayingMembers, m)
		}
	}
	removing := map[string]*field.Path{}
	for _, m := range members {
		if m.Kind == ServiceKind {
			removing[m.Name] = m.Path
		}
	}
	for _, route := range strayRoutes(staying, stayingMembers, after) {
		if removing[route.service] == nil {
			continue // routed outside before: not this removal's doing
		}
		errs = append(errs, field.Invalid(removing[route.service], "Service/"+route.service, fmt.Sprintf(
			"%s of application %s routes to it, and an application's Ingress routes to its own Services: remove %s too, or change it first",
			route.ingress, app.GetName(), route.ingress)))
	}
	if len(errs) > 0 {
		return Membership{}, errs, nil
	}

	var writes []membershipWrite
	for i, obj := range objects {
		labelPatch := map[string]any{}
		for k, v := range want {
			if value, ok := obj.GetLabels()[k]; ok && value == v {
				labelPatch[k] = nil
			}
		}
		refs, refsChanged := ownerReferences(obj, app, false)
		if patch := metadataPatch(obj, labelPatch, refs, refsChanged); patch != nil {
			writes = append(writes, membershipWrite{resource: mappings[i].Resource, name: obj.GetName(), patch: patch,
				undo: metadataUndo(obj, labelPatch, refsChanged)})
		}
	}
	if err := patchAll(ctx, client, app.GetNamespace(), writes, dryRun); err != nil {
		return Membership{}, nil, err
	}
	return Membership{Members: members}, nil, nil
}

// resolve reads the members as the caller; no members means the current
// components.
func (r *Reader) resolve(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured, components []*unstructured.Unstructured,
	members []Member) ([]Member, []*unstructured.Unstructured, []*meta.RESTMapping, field.ErrorList, error) {
	if len(members) == 0 {
		for _, c := range components {
			members = append(members, MemberOf(c))
		}
	}
	var errs field.ErrorList
	objects := make([]*unstructured.Unstructured, len(members))
	mappings := make([]*meta.RESTMapping, len(members))
	for i, m := range members {
		mapping, err := r.Mapping(m.Kind)
		if err != nil {
			errs = append(errs, field.Invalid(m.Path.Child("kind"), m.Kind.String(), "a kind the cluster does not serve"))
			continue
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			errs = append(errs, field.Invalid(m.Path.Child("kind"), m.Kind.String(), "not of a namespace: an application holds objects of its own"))
			continue
		}
		if m.Kind.Group == Resource.Group {
			errs = append(errs, field.Invalid(m.Path.Child("kind"), m.Kind.String(), "applications and their histories are not components of applications"))
			continue
		}
		mappings[i] = mapping
	}
	if len(errs) > 0 {
		return nil, nil, nil, errs, nil
	}
	for i, m := range members {
		obj, err := client.Resource(mappings[i].Resource).Namespace(app.GetNamespace()).Get(ctx, m.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, nil, nil, err
		}
		objects[i] = obj
	}
	return members, objects, mappings, nil, nil
}

// otherApplications lists the other applications of app's namespace.
func otherApplications(ctx context.Context, client dynamic.Interface, app *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	list, err := client.Resource(Resource).Namespace(app.GetNamespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var others []*unstructured.Unstructured
	for i := range list.Items {
		if list.Items[i].GetName() != app.GetName() {
			others = append(others, &list.Items[i])
		}
	}
	return others, nil
}

// IngressKind is the kind of an Ingress.
var IngressKind = schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}

// ServiceKind is the kind of a Service.
var ServiceKind = schema.GroupKind{Kind: "Service"}

// IngressServices are the Services an Ingress routes to, sorted.
func IngressServices(ingress *unstructured.Unstructured) []string {
	seen := map[string]bool{}
	if name, _, _ := unstructured.NestedString(ingress.Object, "spec", "defaultBackend", "service", "name"); name != "" {
		seen[name] = true
	}
	rules, _, _ := unstructured.NestedSlice(ingress.Object, "spec", "rules")
	for _, rule := range rules {
		paths, _, _ := unstructured.NestedSlice(asMap(rule), "http", "paths")
		for _, path := range paths {
			if name, _, _ := unstructured.NestedString(asMap(path), "backend", "service", "name"); name != "" {
				seen[name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// strayRoute is an Ingress routing to a Service outside its application.
type strayRoute struct {
	ingress Member
	service string
}

// strayRoutes finds the Ingresses among objects routing to Services that
// are not members after the change, against the platform's rule that an
// application's Ingress uses its own Services.
func strayRoutes(objects []*unstructured.Unstructured, members []Member, after map[Member]bool) []strayRoute {
	var stray []strayRoute
	for i, obj := range objects {
		if members[i].Kind != IngressKind {
			continue
		}
		for _, service := range IngressServices(obj) {
			if !after[Member{Kind: ServiceKind, Name: service}] {
				stray = append(stray, strayRoute{ingress: members[i], service: service})
			}
		}
	}
	return stray
}

// componentKindsPatch adds the kinds of members the application lacks to
// spec.componentKinds, the core group written "core" as the platform
// documents it; nil when it has them all.
func componentKindsPatch(app *unstructured.Unstructured, spec Spec, members []Member) []byte {
	kinds, _, _ := unstructured.NestedSlice(app.Object, "spec", "componentKinds")
	added := false
	for _, m := range members {
		if spec.holds(m.Kind) {
			continue
		}
		group := m.Kind.Group
		if group == "" {
			group = CoreGroup
		}
		kinds = append(kinds, map[string]any{"group": group, "kind": m.Kind.Kind})
		spec.ComponentKinds = append(spec.ComponentKinds, metav1.GroupKind(m.Kind))
		added = true
	}
	if !added {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": app.GetResourceVersion()},
		"spec":     map[string]any{"componentKinds": kinds},
	})
	return patch
}

// ownerReferences are obj's owner references with the application as an
// owner or not, and whether that changed them.
func ownerReferences(obj, app *unstructured.Unstructured, owned bool) ([]metav1.OwnerReference, bool) {
	var refs []metav1.OwnerReference
	had := false
	for _, ref := range obj.GetOwnerReferences() {
		if IsApplicationReference(ref) && ref.Name == app.GetName() {
			had = true
			continue
		}
		refs = append(refs, ref)
	}
	if owned {
		refs = append(refs, OwnerReference(app))
	}
	return refs, had != owned
}

// metadataPatch is a merge patch of obj's labels and owner references,
// made on the resourceVersion read; nil when nothing changes.
func metadataPatch(obj *unstructured.Unstructured, labelPatch map[string]any, refs []metav1.OwnerReference, refsChanged bool) []byte {
	if len(labelPatch) == 0 && !refsChanged {
		return nil
	}
	metadata := map[string]any{"resourceVersion": obj.GetResourceVersion()}
	if len(labelPatch) > 0 {
		metadata["labels"] = labelPatch
	}
	if refsChanged {
		if refs == nil {
			metadata["ownerReferences"] = nil
		} else {
			metadata["ownerReferences"] = refs
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": metadata})
	return patch
}

// metadataUndo is the merge patch giving obj back the labels labelPatch
// changes and, when refsChanged, its owner references.
func metadataUndo(obj *unstructured.Unstructured, labelPatch map[string]any, refsChanged bool) []byte {
	metadata := map[string]any{}
	if len(labelPatch) > 0 {
		labels := map[string]any{}
		for k := range labelPatch {
			if v, ok := obj.GetLabels()[k]; ok {
				labels[k] = v
			} else {
				labels[k] = nil
			}
		}
		metadata["labels"] = labels
	}
	if refsChanged {
		if refs := obj.GetOwnerReferences(); refs != nil {
			metadata["ownerReferences"] = refs
		} else {
			metadata["ownerReferences"] = nil
		}
	}
	undo, _ := json.Marshal(map[string]any{"metadata": metadata})
	return undo
}

// componentKindsUndo is the merge patch giving app back its
// spec.componentKinds.
func componentKindsUndo(app *unstructured.Unstructured) []byte {
	kinds, found, _ := unstructured.NestedSlice(app.Object, "spec", "componentKinds")
	var value any
	if found {
		value = kinds
	}
	undo, _ := json.Marshal(map[string]any{"spec": map[string]any{"componentKinds": value}})
	return undo
}

// selfSubjectAccessReviews is where a caller asks what it may do.
var selfSubjectAccessReviews = schema.GroupVersionResource{Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews"}

// patchAll makes the writes as a dry run, then, unless dryRun, for real:
// Services before Ingresses, whose admission checks that the Services
// they route to are in their application. A dry run of an Ingress's
// write would see its Services as they are, not as the change leaves
// them, so for Ingresses the dry run asks kube-apiserver whether the
// caller may patch them instead; the change's own check of their routes
// (strayRoutes) stands for the rest.
func patchAll(ctx context.Context, client dynamic.Interface, namespace string, writes []membershipWrite, dryRun bool) error {
	sort.SliceStable(writes, func(i, j int) bool { return !isIngress(writes[i]) && isIngress(writes[j]) })
	for _, w := range writes {
		var err error
		if isIngress(w) {
			err = mayPatch(ctx, client, namespace, w)
		} else {
			_, err = client.Resource(w.resource).Namespace(namespace).Patch(ctx, w.name, types.MergePatchType, w.patch,
				metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		}
		if err != nil {
			return err
		}
	}
	if dryRun {
		return nil
	}
	for i, w := range writes {
		if _, err := client.Resource(w.resource).Namespace(namespace).Patch(ctx, w.name, types.MergePatchType, w.patch, metav1.PatchOptions{}); err != nil {
			undoAll(ctx, client, namespace, writes[:i])
			return err
		}
	}
	return nil
}

// undoAll gives back what writes changed, newest first, as far as it can:
// a write refused after others were made (someone changed an object
// between the dry run and the write) leaves nothing half-done behind.
func undoAll(ctx context.Context, client dynamic.Interface, namespace string, writes []membershipWrite) {
	for i := len(writes) - 1; i >= 0; i-- {
		w := writes[i]
		if _, err := client.Resource(w.resource).Namespace(namespace).Patch(ctx, w.name, types.MergePatchType, w.undo, metav1.PatchOptions{}); err != nil {
			klog.FromContext(ctx).Error(err, "Undoing a membership write after a refusal failed", "resource", w.resource, "name", w.name)
		}
	}
}

func isIngress(w membershipWrite) bool {
	return w.resource.Group == IngressKind.Group && w.resource.Resource == "ingresses"
}

// mayPatch asks kube-apiserver whether the caller may patch w's object,
// and answers a refusal as kube-apiserver would.
func mayPatch(ctx context.Context, client dynamic.Interface, namespace string, w membershipWrite) error {
	review := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
		"spec": map[string]any{"resourceAttributes": map[string]any{
			"namespace": namespace, "verb": "patch", "group": w.resource.Group, "resource": w.resource.Resource, "name": w.name,
		}},
	}}
	answer, err := client.Resource(selfSubjectAccessReviews).Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if allowed, _, _ := unstructured.NestedBool(answer.Object, "status", "allowed"); !allowed {
		reason, _, _ := unstructured.NestedString(answer.Object, "status", "reason")
		return apierrors.NewForbidden(w.resource.GroupResource(), w.name, fmt.Errorf("you may not patch it in namespace %s: %s", namespace, reason))
	}
	return nil
}
