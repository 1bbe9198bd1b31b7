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

package uidrange_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/acp-archon/archon/pkg/controller/uidrange"
	uidranges "github.com/acp-archon/archon/pkg/uidrange"
)

func namespace(name string, enabled bool, annotation string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: map[string]string{}}}
	if enabled {
		ns.Labels[uidranges.EnabledLabel] = "true"
	}
	if annotation != "" {
		ns.Annotations[uidranges.Annotation] = annotation
	}
	return ns
}

func TestRangesAreHandedOutOnceAndFreed(t *testing.T) {
	kube := kubefake.NewClientset(
		namespace("held", true, uidranges.Block(0).String()),
		namespace("a", true, ""), namespace("b", true, ""),
		namespace("off", false, uidranges.Block(5).String()),
		namespace("plain", false, ""),
	)
	informers := kubeinformers.NewSharedInformerFactory(kube, 0)
	c, err := uidrange.New(kube, informers)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informers.Start(ctx.Done())
	go c.Run(ctx, 2)
	ranges := map[string]string{}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range []string{"held", "a", "b", "off", "plain"} {
			ns, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			ranges[name] = ns.Annotations[uidranges.Annotation]
		}
		return ranges["a"] != "" && ranges["b"] != "" && ranges["off"] == "", nil
	})
	if err != nil {
		t.Fatalf("ranges %v: %v", ranges, err)
	}
	if ranges["held"] != uidranges.Block(0).String() || ranges["plain"] != "" {
		t.Errorf("ranges %v", ranges)
	}
	seen := map[string]string{}
	for _, name := range []string{"held", "a", "b"} {
		if other, ok := seen[ranges[name]]; ok {
			t.Errorf("%s and %s both hold %s", name, other, ranges[name])
		}
		seen[ranges[name]] = name
	}
}
