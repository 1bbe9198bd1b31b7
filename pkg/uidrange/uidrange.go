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

// Package uidrange is the UID/GID ranges of namespaces, as the platform
// documents them: a namespace labeled security.cpaas.io/enabled=true gets
// its own block of IDs, shown in the annotation security.cpaas.io/uid-
// range, and its pods run with IDs of that block.
package uidrange

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// EnabledLabel turns a namespace's range on ("true").
	EnabledLabel = "security.cpaas.io/enabled"
	// Annotation holds a namespace's range, <first>-<last>, inclusive.
	Annotation = "security.cpaas.io/uid-range"
	// Base is the first ID archon hands out.
	Base = 1000000000
	// BlockSize is how many IDs a namespace gets, as the documented
	// example's range holds.
	BlockSize = 10000
	// Blocks is how many blocks there are below 2^31.
	Blocks = (1<<31 - 1 - Base) / BlockSize
)

// Range is a namespace's IDs, First to Last inclusive.
type Range struct {
	First, Last int64
}

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Contains says whether id is in the range.
func (r Range) Contains(id int64) bool { return id >= r.First && id <= r.Last }

// Overlaps says whether two ranges share an ID.
func (r Range) Overlaps(o Range) bool { return r.First <= o.Last && o.First <= r.Last }

// Block is the range of block i.
func Block(i int) Range {
	first := int64(Base + i*BlockSize)
	return Range{First: first, Last: first + BlockSize - 1}
}

// Parse reads a range annotation.
func Parse(value string) (Range, error) {
	first, last, ok := strings.Cut(value, "-")
	a, errA := strconv.ParseInt(first, 10, 64)
	b, errB := strconv.ParseInt(last, 10, 64)
	if !ok || errA != nil || errB != nil || a < 0 || b < a || b > 1<<31-1 {
		return Range{}, fmt.Errorf("annotation %s is %q: write it as <first>-<last>, such as %s", Annotation, value, Block(0))
	}
	if a < Base {
		return Range{}, fmt.Errorf("annotation %s is %q: a range starts at %d or above, clear of root and the system's IDs", Annotation, value, Base)
	}
	return Range{First: a, Last: b}, nil
}

// Enabled says whether a namespace's range is on.
func Enabled(namespace *corev1.Namespace) bool { return namespace.Labels[EnabledLabel] == "true" }

// Of is a namespace's range, if it has one.
func Of(namespace *corev1.Namespace) (Range, bool) {
	value, ok := namespace.Annotations[Annotation]
	if !ok {
		return Range{}, false
	}
	r, err := Parse(value)
	return r, err == nil
}

// Free returns the lowest block no range in taken overlaps; false when
// every block is taken.
func Free(taken []Range) (Range, bool) {
	sort.Slice(taken, func(i, j int) bool { return taken[i].First < taken[j].First })
	next := 0
	for _, r := range taken {
		if next >= Blocks {
			break
		}
		if Block(next).Last < r.First {
			return Block(next), true
		}
		for next < Blocks && Block(next).First <= r.Last {
			next++
		}
	}
	if next < Blocks {
		return Block(next), true
	}
	return Range{}, false
}

// Default gives a pod the range's first ID wherever it names none: the
// pod's runAsUser, runAsGroup and fsGroup, each on its own (a pod naming
// one still runs as the range's user, never as its image's, root
// perhaps); and every container without a runAsUser the pod's. It says
// whether it changed the pod.
func Default(pod *corev1.Pod, r Range) bool {
	changed := false
	first := r.First
	if pod.Spec.SecurityContext == nil {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	sc := pod.Spec.SecurityContext
	for _, id := range []**int64{&sc.RunAsUser, &sc.RunAsGroup, &sc.FSGroup} {
		if *id == nil {
			value := first
			*id, changed = &value, true
		}
	}
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range containers {
			if containers[i].SecurityContext == nil {
				containers[i].SecurityContext = &corev1.SecurityContext{}
			}
			if containers[i].SecurityContext.RunAsUser == nil {
				user := *sc.RunAsUser
				containers[i].SecurityContext.RunAsUser, changed = &user, true
			}
		}
	}
	return changed
}

// Check lists every ID of a pod outside the range, naming its field:
// runAsUser and runAsGroup of the pod and its containers, fsGroup and
// supplementalGroups.
func Check(pod *corev1.Pod, r Range) field.ErrorList {
	var errs field.ErrorList
	check := func(path *field.Path, id *int64) {
		if id != nil && !r.Contains(*id) {
			errs = append(errs, field.Invalid(path, *id, fmt.Sprintf("outside the namespace's UID/GID range %s (annotation %s)", r, Annotation)))
		}
	}
	spec := field.NewPath("spec")
	if sc := pod.Spec.SecurityContext; sc != nil {
		path := spec.Child("securityContext")
		check(path.Child("runAsUser"), sc.RunAsUser)
		check(path.Child("runAsGroup"), sc.RunAsGroup)
		check(path.Child("fsGroup"), sc.FSGroup)
		for i := range sc.SupplementalGroups {
			check(path.Child("supplementalGroups").Index(i), &sc.SupplementalGroups[i])
		}
	}
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"initContainers", pod.Spec.InitContainers}, {"containers", pod.Spec.Containers}} {
		for i, c := range list.containers {
			checkContainer(spec.Child(list.name).Index(i), c.SecurityContext, check)
		}
	}
	for i, c := range pod.Spec.EphemeralContainers {
		checkContainer(spec.Child("ephemeralContainers").Index(i), c.SecurityContext, check)
	}
	return errs
}

func checkContainer(path *field.Path, sc *corev1.SecurityContext, check func(*field.Path, *int64)) {
	if sc != nil {
		check(path.Child("securityContext", "runAsUser"), sc.RunAsUser)
		check(path.Child("securityContext", "runAsGroup"), sc.RunAsGroup)
	}
}
