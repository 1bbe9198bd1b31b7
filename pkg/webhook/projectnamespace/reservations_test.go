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
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/acp-archon/archon/pkg/quota"
)

func cpu(amount string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse(amount)}
}

func resourceQuota(namespace, name, uid, amount string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: k8stypes.UID(uid)}, Spec: corev1.ResourceQuotaSpec{Hard: cpu(amount)}}
}

// Reservations count until their write shows: in the project's quotas
// with the reserved limits, or, for a new quota, its UID seen at all (a
// quota written and deleted between two reviews). A joining namespace's
// quotas are written when the namespace shows in the project, whatever
// happens to their UIDs.
func TestPendingReservationsCountUntilWritten(t *testing.T) {
	writes := newQuotaWrites()
	writes.observe("created-then-deleted", "7")
	writes.observe("joining", "9") // its status was written meanwhile
	reservations := []reservation{
		{Namespace: "a", Name: "listed", UID: "listed", Hard: cpu("2")},
		{Namespace: "a", Name: "gone", UID: "created-then-deleted", Hard: cpu("2")},
		{Namespace: "b", Name: "new", UID: "unseen", Hard: cpu("3")},
		{Namespace: "c", Name: "big", UID: "joining", Hard: cpu("5"), Joins: true},
		{Namespace: "a", Name: "raised", UID: "raised", Hard: cpu("4"), Reviewed: "3"},
	}
	byNamespace := map[string][]*corev1.ResourceQuota{
		"a": {resourceQuota("a", "listed", "listed", "2"), resourceQuota("a", "raised", "raised", "1")},
		"b": nil,
	}
	kept := pending(reservations, byNamespace, func(string, string) bool { return false }, writes)
	var names []string
	for _, r := range kept {
		names = append(names, r.Name)
	}
	if len(names) != 3 || names[0] != "new" || names[1] != "big" || names[2] != "raised" {
		t.Fatalf("pending %v, want new, big and raised", names)
	}
	// What counts: a's listed 2 and raised 4 (min per namespace: 2), b's
	// new 3, c's joining 5.
	if used := quota.Use(byNamespace)[corev1.ResourceRequestsCPU]; used.String() != "10" {
		t.Errorf("use with the pending reservations: %v, want requests.cpu 10", used)
	}
}

// A write the informer sees while the quotas are being read may be one
// the read missed: the reservation of it stays until a later review, whose
// read comes after it was seen.
func TestAWriteSeenDuringTheReadKeepsItsReservation(t *testing.T) {
	writes := newQuotaWrites()
	seenBeforeTheRead := writes.snapshot()
	writes.observe("new", "12") // written and seen while the lists were going on
	reservations := []reservation{{Namespace: "b", Name: "new", UID: "new", Hard: cpu("3")}}
	byNamespace := map[string][]*corev1.ResourceQuota{"b": nil} // the read missed it
	if kept := pending(reservations, byNamespace, func(string, string) bool { return false }, seenBeforeTheRead); len(kept) != 1 {
		t.Fatalf("the reservation of a write the read may have missed was dropped")
	}
	if used := quota.Use(byNamespace)[corev1.ResourceRequestsCPU]; used.String() != "3" {
		t.Errorf("use %v, want the reservation's 3", used)
	}
	if kept := pending(reservations, map[string][]*corev1.ResourceQuota{"b": nil}, func(string, string) bool { return false }, writes.snapshot()); len(kept) != 0 {
		t.Errorf("a later review, after the write was seen, still keeps the reservation")
	}
}
