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

package projectnamespace

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/acp-archon/archon/pkg/protectednamespace"
)

// A quota the webhook allows is written by kube-apiserver after the
// webhook answers, so two quotas reviewed at once in two namespaces of a
// project would each see the other's headroom and both pass (and so
// would a namespace joining the project with its quotas). Each allowed
// quota is therefore reserved first, in a Lease per project that every
// archon replica reads and writes with optimistic concurrency: of two
// reviews racing, one writes its reservation and the other conflicts,
// reads again, and counts the first. A reservation lasts until its write
// is seen (the quota's UID, at a resourceVersion other than the one
// reviewed, in the informer every replica runs; kube-apiserver sets the
// UID of a new object before validating admission) or reservationTTL
// passes (the write was refused after all).

const (
	// reservationTTL outlasts any admission: webhooks time out at 30 s.
	reservationTTL = 30 * time.Second
	// reservationAttempts bounds the retries of a contended project.
	reservationAttempts = 8
	// reservationsAnnotation holds a Lease's reservations as JSON.
	reservationsAnnotation = "auth.alauda.io/quota-reservations"
)

// reservation is a quota allowed but perhaps not written yet.
type reservation struct {
	Namespace string              `json:"namespace"`
	Name      string              `json:"name"`
	UID       types.UID           `json:"uid"`
	Hard      corev1.ResourceList `json:"hard"`
	// Reviewed is the resourceVersion of the quota an update changes,
	// empty for a new quota.
	Reviewed string `json:"reviewed,omitempty"`
	// Joins says the quota is of a namespace joining the project: it is
	// written when the namespace shows in the project with it.
	Joins   bool        `json:"joins,omitempty"`
	Expires metav1.Time `json:"expires"`
}

// admit checks quotas against their project with every pending
// reservation counted, and reserves them when they fit. reviewed are the
// quotas under review: a quota written, or those of a namespace joining;
// problems says what is wrong with them given the project's quotas by
// namespace (the reviewed ones left out). A dry run reserves nothing.
func (wh *Webhook) admit(ctx context.Context, project string, reviewed []reservation, dryRun bool,
	problems func(byNamespace map[string][]*corev1.ResourceQuota) []string) ([]string, error) {
	isReviewed := func(namespace, name string) bool {
		for _, r := range reviewed {
			if r.Namespace == namespace && r.Name == name {
				return true
			}
		}
		return false
	}
	for attempt := 0; attempt < reservationAttempts; attempt++ {
		lease, reservations, err := wh.reservations(ctx, project)
		if err != nil {
			return nil, err
		}
		// What the informer has seen is taken before the quotas are read,
		// and the quotas are read after the reservations, consistently: a
		// reservation is then dropped only for a write the read shows (a
		// reservation dropped before the Lease was read was for a quota
		// the read shows; one whose write the informer sees only during
		// the read stays, though the read may have missed the write).
		seen := wh.writes.snapshot()
		byNamespace, _, err := wh.quotas.ProjectQuotas(ctx, project, "")
		if err != nil {
			return nil, err
		}
		kept := pending(reservations, byNamespace, isReviewed, seen)
		for namespace, quotas := range byNamespace {
			byNamespace[namespace] = slices.DeleteFunc(quotas, func(q *corev1.ResourceQuota) bool { return isReviewed(q.Namespace, q.Name) })
		}
		if found := problems(byNamespace); len(found) > 0 || dryRun || len(reviewed) == 0 {
			return found, nil
		}
		err = wh.reserve(ctx, project, lease, append(kept, reviewed...))
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			continue // another review reserved first: count it
		}
		return nil, err
	}
	return nil, fmt.Errorf("quotas of project %s are being changed by many at once; try again", project)
}

func reservationLeaseName(project string) string { return "archon-quota-" + project }

// reservations reads the project's Lease and its live reservations; the
// Lease is nil when there is none yet.
func (wh *Webhook) reservations(ctx context.Context, project string) (*coordinationv1.Lease, []reservation, error) {
	lease, err := wh.kube.CoordinationV1().Leases(protectednamespace.ArchonNamespace).Get(ctx, reservationLeaseName(project), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var all, live []reservation
	if raw := lease.Annotations[reservationsAnnotation]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &all); err != nil {
			return nil, nil, fmt.Errorf("the quota reservations of project %s are unreadable: %w", project, err)
		}
	}
	now := time.Now()
	for _, r := range all {
		if r.Expires.After(now) {
			live = append(live, r)
		}
	}
	return lease, live, nil
}

// pending drops the reservations that were written, and puts the others
// in place of what the quotas say: they are what kube-apiserver is about
// to write. A reservation is written once the project's quotas show it
// (its name with its limits); a new quota also once its UID was seen at
// all, which catches one written and deleted since. Reservations of the
// quotas under review are kept but not put in: those count as reviewed.
func pending(reservations []reservation, byNamespace map[string][]*corev1.ResourceQuota, isReviewed func(namespace, name string) bool, writes *quotaWrites) []reservation {
	var kept []reservation
	for _, r := range reservations {
		written := r.Reviewed == "" && !r.Joins && writes.seen(r.UID, "")
		for _, q := range byNamespace[r.Namespace] {
			if q.Name == r.Name && apiequality.Semantic.DeepEqual(q.Spec.Hard, r.Hard) {
				written = true
			}
		}
		if written {
			continue
		}
		kept = append(kept, r)
		if isReviewed(r.Namespace, r.Name) {
			continue // under review again: its new limits count, below
		}
		quotas := byNamespace[r.Namespace][:0:0]
		for _, q := range byNamespace[r.Namespace] {
			if q.Name != r.Name {
				quotas = append(quotas, q)
			}
		}
		byNamespace[r.Namespace] = append(quotas, &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.Name},
			Spec:       corev1.ResourceQuotaSpec{Hard: r.Hard},
		})
	}
	return kept
}

// reserve writes the project's reservations into its Lease, with the
// resourceVersion it was read at; a conflict means another review
// reserved in between, and the caller reviews again.
func (wh *Webhook) reserve(ctx context.Context, project string, lease *coordinationv1.Lease, kept []reservation) error {
	raw, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	leases := wh.kube.CoordinationV1().Leases(protectednamespace.ArchonNamespace)
	if lease == nil {
		_, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
			Name: reservationLeaseName(project), Namespace: protectednamespace.ArchonNamespace,
			Annotations: map[string]string{reservationsAnnotation: string(raw)},
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "archon"},
		}}, metav1.CreateOptions{})
		return err
	}
	lease = lease.DeepCopy()
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[reservationsAnnotation] = string(raw)
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// quotaWrites remembers, for a while, the resourceVersions at which each
// quota was seen written, deletions included: a quota written and deleted
// between two reviews no longer shows in a list, yet its reservation is
// spent.
type quotaWrites struct {
	mu      sync.Mutex
	byUID   map[types.UID]map[string]time.Time
	updated int
}

func newQuotaWrites() *quotaWrites {
	return &quotaWrites{byUID: map[types.UID]map[string]time.Time{}}
}

// Watch feeds the record from an informer of ResourceQuotas.
func (w *quotaWrites) Watch(informer cache.SharedIndexInformer) error {
	observe := func(obj any) {
		if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if q, ok := obj.(*corev1.ResourceQuota); ok {
			w.observe(q.UID, q.ResourceVersion)
		}
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: observe,
	})
	return err
}

func (w *quotaWrites) observe(uid types.UID, resourceVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byUID[uid] == nil {
		w.byUID[uid] = map[string]time.Time{}
	}
	w.byUID[uid][resourceVersion] = time.Now()
	// Forget what no reservation can be waiting for, now and then.
	if w.updated++; w.updated%1024 == 0 {
		cutoff := time.Now().Add(-2 * reservationTTL)
		for uid, versions := range w.byUID {
			for rv, at := range versions {
				if at.Before(cutoff) {
					delete(versions, rv)
				}
			}
			if len(versions) == 0 {
				delete(w.byUID, uid)
			}
		}
	}
}

// snapshot returns what has been seen so far, frozen.
func (w *quotaWrites) snapshot() *quotaWrites {
	w.mu.Lock()
	defer w.mu.Unlock()
	frozen := &quotaWrites{byUID: make(map[types.UID]map[string]time.Time, len(w.byUID))}
	for uid, versions := range w.byUID {
		copied := make(map[string]time.Time, len(versions))
		for rv, at := range versions {
			copied[rv] = at
		}
		frozen.byUID[uid] = copied
	}
	return frozen
}

// seen says whether the quota of uid was seen at a resourceVersion other
// than reviewed (at all, when reviewed is empty).
func (w *quotaWrites) seen(uid types.UID, reviewed string) bool {
	if w == nil || uid == "" {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for rv := range w.byUID[uid] {
		if rv != reviewed {
			return true
		}
	}
	return false
}
