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

package visibility

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/acp-archon/archon/pkg/apis/auth"
)

// BenchmarkIndex reports the memory the index holds for 5,000 projects of
// 10 members each (besides the projects themselves, which the store's
// watch cache holds too) and the cost of filtering all of them down to one
// member's projects, as a member's list does.
func BenchmarkIndex(b *testing.B) {
	const projects, members = 5000, 10
	source := &fakeSource{listRV: "1", events: make(chan watch.Event)}
	for i := 0; i < projects; i++ {
		var m []auth.ProjectMember
		for j := 0; j < members; j++ {
			m = append(m, userMember(fmt.Sprintf("user-%d", (i*members+j)%20000)))
		}
		source.initial = append(source.initial, *project(fmt.Sprintf("p%05d", i), 1, m...))
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ix := NewIndex()
	go ix.Run(ctx, source)
	if err := ix.waitForSync(ctx); err != nil {
		b.Fatal(err)
	}
	source.initial = nil // the store, not the index, owns the listed objects
	runtime.GC()
	runtime.ReadMemStats(&after)
	indexMiB := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)

	isMember := MemberFilter(&user.DefaultInfo{Name: "user-42", Groups: []string{"system:authenticated"}})
	all := make([]*auth.Project, 0, projects)
	for _, p := range ix.projects {
		all = append(all, p)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kept := 0
		for _, p := range all {
			if isMember(p) {
				kept++
			}
		}
		if kept == 0 {
			b.Fatal("user-42 is a member of no project")
		}
	}
	b.StopTimer()
	// Reported last: ResetTimer drops metrics reported before it.
	b.ReportMetric(indexMiB, "index-MiB")
}
