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

package protectednamespace

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
)

func TestProtectedNamespaces(t *testing.T) {
	set := New("ops", "monitoring")
	namespace := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	for _, tc := range []struct {
		namespace *corev1.Namespace
		protected bool
	}{
		{namespace("kube-system", nil), true},
		{namespace("kube-public", nil), true},
		{namespace("kube-node-lease", nil), true},
		{namespace("default", nil), true},
		{namespace("archon-system", nil), true},
		{namespace("ops", nil), true},
		{namespace("monitoring", nil), true},
		{namespace("team-a", map[string]string{authv1.ProtectedNamespaceLabel: "true"}), true},
		{namespace("team-a", map[string]string{authv1.ProtectedNamespaceLabel: "false"}), false},
		{namespace("team-a", nil), false},
		{namespace("kubelet", nil), false},
		{namespace("default-x", nil), false},
	} {
		if got := set.Has(tc.namespace); got != tc.protected {
			t.Errorf("%s %v: protected %v, want %v", tc.namespace.Name, tc.namespace.Labels, got, tc.protected)
		}
	}
	if New().ByName("ops") {
		t.Error("ops is protected without being listed")
	}
}
