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

package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func sample(n int) timings {
	var t timings
	for i := 1; i <= n; i++ {
		t = t.add(time.Duration(i) * time.Millisecond)
	}
	return t
}

func TestPercentilesNameTheirSample(t *testing.T) {
	for _, c := range []struct {
		n, percentile int
		want          quantile
	}{
		{100, 99, quantile{name: "p99", value: 99 * time.Millisecond, n: 100}},
		{99, 99, quantile{name: "max", value: 99 * time.Millisecond, n: 99}},
		{20, 99, quantile{name: "max", value: 20 * time.Millisecond, n: 20}},
		{20, 50, quantile{name: "p50", value: 10 * time.Millisecond, n: 20}},
		{1, 50, quantile{name: "max", value: time.Millisecond, n: 1}},
	} {
		if got := sample(c.n).p(c.percentile); got != c.want {
			t.Errorf("p%d of %d samples = %+v, want %+v", c.percentile, c.n, got, c.want)
		}
	}
	if got := sample(20).p(99).String(); got != "max 20ms" {
		t.Errorf("a stand-in maximum prints as %q, want %q", got, "max 20ms")
	}
}

type recorder struct {
	errors  []string
	metrics map[string]float64
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) ReportMetric(n float64, unit string) { r.metrics[unit] = n }

func TestMissedTargetsFailTheRun(t *testing.T) {
	r := &recorder{metrics: map[string]float64{}}
	v := &verdicts{b: r}
	cells := []string{
		v.ratio("met ratio", 1.5, 1.5, 100),
		v.ratio("missed ratio", 1.51, 1.5, 100),
		v.latency("missed latency", sample(20).p(99), 15*time.Millisecond),
		v.memory("met memory", 149, 150, 5),
	}
	want := []string{"<= 1.50\tmet", "<= 1.50\tMISSED", "<= 15ms\tMISSED", "<= 150 MiB\tmet"}
	for i := range want {
		if cells[i] != want[i] {
			t.Errorf("cells of target %d = %q, want %q", i, cells[i], want[i])
		}
	}
	v.report(io.Discard)
	if len(r.errors) != 2 || !strings.Contains(r.errors[0], "missed ratio") || !strings.Contains(r.errors[1], "missed latency (max)") {
		t.Errorf("errors = %q, want one for each missed target, naming it", r.errors)
	}
	if r.metrics["targets-missed"] != 2 {
		t.Errorf("targets-missed = %v, want 2", r.metrics["targets-missed"])
	}
}

func TestPlaneCPUCountsThisProcessAndItsChildren(t *testing.T) {
	child := exec.Command("sleep", "5")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep binary to start a child with: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	times, err := planeCPU()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := times[os.Getpid()]; !ok {
		t.Errorf("planeCPU left out this process: %v", times)
	}
	if p, ok := times[child.Process.Pid]; !ok || p.name != "sleep" {
		t.Errorf("planeCPU has %+v for the child, want it named sleep", p)
	}
	for pid := range times {
		if pid != os.Getpid() && pid != child.Process.Pid {
			t.Errorf("planeCPU counted process %d, which is neither this process nor its child", pid)
		}
	}
}
