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
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	authv1 "github.com/acp-archon/archon/pkg/apis/auth/v1"
	archonfake "github.com/acp-archon/archon/pkg/generated/clientset/versioned/fake"
	archoninformers "github.com/acp-archon/archon/pkg/generated/informers/externalversions"
)

// newController returns a controller over fake clients holding objects,
// whose informers have not started: their caches are empty, as they are
// a moment after archon's own writes.
func newController(t *testing.T, objects ...runtime.Object) (*Controller, *record.FakeRecorder) {
	t.Helper()
	kube := kubefake.NewClientset(objects...)
	archon := archonfake.NewSimpleClientset()
	recorder := record.NewFakeRecorder(10)
	c, err := New(kube, archon, recorder, kubeinformers.NewSharedInformerFactory(kube, 0), NewOwnedInformers(kube), NewSeatInformers(kube),
		archoninformers.NewSharedInformerFactory(archon, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c, recorder
}

func shop() *authv1.Project {
	return &authv1.Project{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: authv1.ProjectSpec{Members: []authv1.ProjectMember{{Kind: authv1.MemberKindUser, Name: "alice", Role: authv1.ProjectRoleAdmin}}}}
}

// A binding the informer has not seen yet is archon's own when it carries
// the project's label: no NameTaken Event. One made by someone else is
// left alone, with the Event.
func TestClusterRoleBindingsNotYetCachedAreNotTakenForSomeoneElses(t *testing.T) {
	want := desiredClusterRoleBindings(shop())[0]
	for name, existing := range map[string]*rbacv1.ClusterRoleBinding{
		"archon's": want.DeepCopy(),
		"someone else's": {ObjectMeta: metav1.ObjectMeta{Name: want.Name}, RoleRef: want.RoleRef,
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}}},
	} {
		t.Run(name, func(t *testing.T) {
			c, recorder := newController(t, existing)
			if err := c.applyClusterRoleBinding(context.Background(), shop(), want); err != nil {
				t.Fatal(err)
			}
			var events []string
			for len(recorder.Events) > 0 {
				events = append(events, <-recorder.Events)
			}
			taken := len(events) == 1 && strings.Contains(events[0], "NameTaken")
			if ownedByArchon := name == "archon's"; taken == ownedByArchon {
				t.Errorf("%s binding: events %q", name, events)
			}
			have, err := c.kube.RbacV1().ClusterRoleBindings().Get(context.Background(), want.Name, metav1.GetOptions{})
			if err != nil || subjectsOf(have) != subjectsOf(existing) {
				t.Errorf("the binding was changed: %v %v", err, have.Subjects)
			}
		})
	}
}

func subjectsOf(binding *rbacv1.ClusterRoleBinding) string {
	var names []string
	for _, s := range binding.Subjects {
		names = append(names, s.Name)
	}
	return strings.Join(names, ",")
}
