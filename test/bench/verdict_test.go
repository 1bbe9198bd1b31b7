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
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchScale multiplies the benchmarks' populations (projects, namespaces,
// RoleBindings, repositories, chart versions) and request counts, so that a
// development run can load a tenth of the platform with
// ARCHON_BENCH_SCALE=0.1. "make bench" leaves it at 1, the size the targets
// are written for.
var benchScale = func() float64 {
	value := os.Getenv("ARCHON_BENCH_SCALE")
	if value == "" {
		return 1
	}
	scale, err := strconv.ParseFloat(value, 64)
	if err != nil || scale <= 0 || math.IsInf(scale, 0) {
		panic(fmt.Sprintf("ARCHON_BENCH_SCALE=%q: set a positive number such as 0.1, or unset it for the full size", value))
	}
	return scale
}()

// scaled is n times benchScale, but at least least: below that a figure
// would lose its meaning (a p99 needs 100 samples, for instance).
func scaled(n, least int) int {
	return max(int(math.Round(float64(n)*benchScale)), least)
}

// scaleNote marks a table title when the run is not at full size.
func scaleNote() string {
	if benchScale == 1 {
		return ""
	}
	return fmt.Sprintf(" [ARCHON_BENCH_SCALE=%g: reduced size, not a measurement of the targets]", benchScale)
}

// timings is a sample of durations, sorted once it is complete.
type timings struct {
	sorted []time.Duration
	err    error
}

func (t timings) add(d time.Duration) timings {
	t.sorted = append(t.sorted, d)
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
}

func (t timings) n() int { return len(t.sorted) }

// quantile is one figure of a sample together with the sample's size.
type quantile struct {
	// name is "p50", "p99", ... or "max" when the sample is too small to
	// have the percentile asked for.
	name  string
	value time.Duration
	n     int
}

// p returns the percentile of t. A sample smaller than 100/(100-percentile)
// has no such percentile (20 samples have no p99: their second largest is
// about a p95), so p returns the maximum instead, named so.
func (t timings) p(percentile int) quantile {
	n := len(t.sorted)
	if n == 0 {
		return quantile{name: "none"}
	}
	if n*(100-percentile) < 100 {
		return quantile{name: "max", value: t.sorted[n-1], n: n}
	}
	return quantile{name: fmt.Sprintf("p%d", percentile), value: t.sorted[(n-1)*percentile/100], n: n}
}

// String prints the value, prefixed by "max" when it stands in for a
// percentile the sample cannot give.
func (q quantile) String() string {
	value := q.value.Round(10 * time.Microsecond).String()
	if q.name == "max" {
		return "max " + value
	}
	return value
}

// ms is the value in milliseconds, for benchmark metrics.
func (q quantile) ms() float64 { return float64(q.value) / float64(time.Millisecond) }

// ratioOf is the ratio of two samples' medians.
func ratioOf(a, b timings) float64 { return float64(a.p(50).value) / float64(b.p(50).value) }

// latencies times n sequential calls of do and stops at the first error.
func latencies(n int, do func() error) timings {
	var t timings
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := do(); err != nil {
			t.err = err
			return t
		}
		t.sorted = append(t.sorted, time.Since(start))
	}
	sort.Slice(t.sorted, func(i, j int) bool { return t.sorted[i] < t.sorted[j] })
	return t
}

// pairedLatencies times n calls of a and n of b, interleaved and taking
// turns at going first, so that whatever else loads the machine meanwhile
// loads both alike.
func pairedLatencies(n int, a, b func() error) (ta, tb timings) {
	timeOne := func(t *timings, do func() error) {
		start := time.Now()
		if err := do(); err != nil && t.err == nil {
			t.err = err
		}
		t.sorted = append(t.sorted, time.Since(start))
	}
	for i := 0; i < n && ta.err == nil && tb.err == nil; i++ {
		if i%2 == 0 {
			timeOne(&ta, a)
			timeOne(&tb, b)
		} else {
			timeOne(&tb, b)
			timeOne(&ta, a)
		}
	}
	sort.Slice(ta.sorted, func(i, j int) bool { return ta.sorted[i] < ta.sorted[j] })
	sort.Slice(tb.sorted, func(i, j int) bool { return tb.sorted[i] < tb.sorted[j] })
	return ta, tb
}

func timeIt(do func()) time.Duration {
	start := time.Now()
	do()
	return time.Since(start)
}

// target is one documented goal: a measured value that must not exceed a
// limit.
type target struct {
	what         string
	value, limit float64
	format       func(float64) string
	// n is the number of samples the value comes from.
	n int
}

func (t target) met() bool { return t.value <= t.limit }

// verdict is "met" or "MISSED".
func (t target) verdict() string {
	if t.met() {
		return "met"
	}
	return "MISSED"
}

// cells are the table cells "<= limit" and the verdict.
func (t target) cells() string { return "<= " + t.format(t.limit) + "\t" + t.verdict() }

func formatRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func formatCount(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func formatMiB(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " MiB" }

func formatMillis(v float64) string {
	return time.Duration(v * float64(time.Millisecond)).Round(10 * time.Microsecond).String()
}

// verdicts collects a benchmark's targets. Every target a benchmark prints
// goes through it, so that a miss fails the run instead of waiting for
// somebody to read the table.
type verdicts struct {
	b       failer
	targets []target
}

// failer is the part of *testing.B verdicts use.
type failer interface {
	Errorf(format string, args ...any)
	ReportMetric(n float64, unit string)
}

// ratio records that the ratio value, from n samples a side, must be at
// most limit, and returns the table cells for it.
func (v *verdicts) ratio(what string, value, limit float64, n int) string {
	return v.add(target{what: what, value: value, limit: limit, format: formatRatio, n: n})
}

// latency records that q must be at most limit. A q that stands in for a
// percentile (the maximum of a small sample) is held to the same limit,
// which is stricter.
func (v *verdicts) latency(what string, q quantile, limit time.Duration) string {
	return v.add(target{what: what + " (" + q.name + ")", value: q.ms(), limit: float64(limit) / float64(time.Millisecond), format: formatMillis, n: q.n})
}

// memory records that a resident size in MiB, the median of n readings,
// must be at most limit.
func (v *verdicts) memory(what string, mib, limit float64, n int) string {
	return v.add(target{what: what, value: mib, limit: limit, format: formatMiB, n: n})
}

// difference records that a difference of latencies, in milliseconds,
// from n samples a side, must be at most limit.
func (v *verdicts) difference(what string, ms float64, limit time.Duration, n int) string {
	return v.add(target{what: what, value: ms, limit: float64(limit) / float64(time.Millisecond), format: formatMillis, n: n})
}

// count records that a count, out of n, must be at most limit.
func (v *verdicts) count(what string, value, limit float64, n int) string {
	return v.add(target{what: what, value: value, limit: limit, format: formatCount, n: n})
}

func (v *verdicts) add(t target) string {
	v.targets = append(v.targets, t)
	return t.cells()
}

// report prints every target with its verdict, fails the benchmark for
// each one missed, and reports the number missed as a metric.
func (v *verdicts) report(w io.Writer) {
	missed := 0
	fmt.Fprintln(w, "\nTargets:")
	for _, t := range v.targets {
		fmt.Fprintf(w, "  %-6s  %s: %s, limit %s, n=%d\n", t.verdict(), t.what, t.format(t.value), t.format(t.limit), t.n)
		if !t.met() {
			missed++
			v.b.Errorf("target MISSED: %s is %s, over the limit %s (n=%d)", t.what, t.format(t.value), t.format(t.limit), t.n)
		}
	}
	fmt.Fprintf(w, "  %d of %d targets met%s\n", len(v.targets)-missed, len(v.targets), scaleNote())
	v.b.ReportMetric(float64(missed), "targets-missed")
}

const (
	// quietWindow is how long the plane's CPU use is averaged over.
	quietWindow = 5 * time.Second
	// quietCores is the CPU, in cores, below which the plane counts as at
	// rest: kube-apiserver, its etcd (in this process), the controller
	// manager, archon and the registry together.
	quietCores = 0.25
	// quietTimeout bounds the wait for the plane to come to rest. After
	// BenchmarkTenancy's load at half size, the plane took over 5 minutes
	// (kube-apiserver at about half a core); at full size 10 minutes were
	// not enough.
	quietTimeout = 20 * time.Minute
	// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat,
	// which Linux fixes at 100 for user space.
	clockTicks = 100
)

// quiet says how long the plane took to come to rest, how busy it was
// over the last window, and how busy the whole machine was meanwhile: the
// plane at rest on a machine busy with other work measures slower.
type quiet struct {
	took         time.Duration
	cores        float64
	machine      float64
	machineCores int
}

func (q quiet) String() string {
	return fmt.Sprintf("settled in %s, plane at %.2f cores, machine at %.1f of %d cores",
		q.took.Round(time.Second), q.cores, q.machine, q.machineCores)
}

// waitForQuiet waits until the plane's own processes use less than
// quietCores over quietWindow. It judges the plane, not the machine, so
// that unrelated processes neither hold the benchmark up nor pass for the
// plane at rest. It returns an error when the plane is still busy after
// quietTimeout: measuring then would measure the plane under its own load.
func waitForQuiet() (quiet, error) {
	start := time.Now()
	var cores float64
	var busiest string
	for time.Since(start) < quietTimeout {
		before, err := planeCPU()
		if err != nil {
			return quiet{}, err
		}
		busyBefore, totalBefore, err := machineCPU()
		if err != nil {
			return quiet{}, err
		}
		time.Sleep(quietWindow)
		after, err := planeCPU()
		if err != nil {
			return quiet{}, err
		}
		busyAfter, totalAfter, err := machineCPU()
		if err != nil {
			return quiet{}, err
		}
		cores = after.since(before).Seconds() / quietWindow.Seconds()
		busiest = after.busiest(before)
		if cores < quietCores {
			machineCores := runtime.NumCPU()
			machine := float64(busyAfter-busyBefore) / float64(totalAfter-totalBefore) * float64(machineCores)
			return quiet{took: time.Since(start), cores: cores, machine: machine, machineCores: machineCores}, nil
		}
	}
	return quiet{}, fmt.Errorf("the plane still used %.2f cores after %s (limit %.2f; %s): something keeps it busy, see the busiest component's log", cores, quietTimeout, quietCores, busiest)
}

// mustQuiet waits for the plane to come to rest and fails the benchmark
// when it does not.
func mustQuiet(b *testing.B) quiet {
	b.Helper()
	q, err := waitForQuiet()
	if err != nil {
		b.Fatalf("not measuring under load: %v", err)
	}
	return q
}

// cpuTimes maps the plane's processes to their CPU time so far.
type cpuTimes map[int]processCPU

type processCPU struct {
	name string
	used time.Duration
}

// since is the CPU time the plane used since before.
func (c cpuTimes) since(before cpuTimes) time.Duration {
	var used time.Duration
	for pid, p := range c {
		used += p.used - before[pid].used
	}
	return used
}

// busiest names the plane's processes by the CPU they used since before,
// in cores over quietWindow, busiest first.
func (c cpuTimes) busiest(before cpuTimes) string {
	type use struct {
		name  string
		cores float64
	}
	var uses []use
	for pid, p := range c {
		uses = append(uses, use{fmt.Sprintf("%s[%d]", p.name, pid), (p.used - before[pid].used).Seconds() / quietWindow.Seconds()})
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].cores > uses[j].cores })
	var parts []string
	for _, u := range uses {
		parts = append(parts, fmt.Sprintf("%s %.2f", u.name, u.cores))
	}
	return strings.Join(parts, ", ")
}

// planeCPU reads the CPU time used so far by this process, which runs
// kube-apiserver's etcd, and by its children, which are the plane's
// components (kube-apiserver, kube-controller-manager, archon and the
// registries).
func planeCPU() (cpuTimes, error) {
	self := os.Getpid()
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	times := cpuTimes{}
	for _, path := range paths {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue // the process has exited
		}
		// The command name may hold spaces and parentheses; the fields
		// after it start at the last ')'.
		open, end := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 13 {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimPrefix(filepath.Dir(path), "/proc/"))
		ppid, _ := strconv.Atoi(fields[1])
		if pid != self && ppid != self {
			continue
		}
		utime, err1 := strconv.ParseUint(fields[11], 10, 64)
		stime, err2 := strconv.ParseUint(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("reading %s: unexpected format", path)
		}
		times[pid] = processCPU{name: string(stat[open+1 : end]), used: time.Duration(utime+stime) * time.Second / clockTicks}
	}
	return times, nil
}

// machineCPU reads the machine's busy and total CPU time, in ticks, from
// /proc/stat.
func machineCPU() (busy, total uint64, err error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(strings.SplitN(string(stat), "\n", 2)[0])[1:]
	for i, f := range fields {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("reading /proc/stat: %w", err)
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total, nil
}

// rssReadings is how many readings settledRSS takes the median of.
const rssReadings = 5

// settledRSS is the median of rssReadings readings of a process's resident
// memory in MiB, one a second. Call it once the plane is quiet: read
// during churn, the figure holds garbage not yet collected.
func settledRSS(b *testing.B, pid int) float64 {
	readings := make([]float64, rssReadings)
	for i := range readings {
		if i > 0 {
			time.Sleep(time.Second)
		}
		readings[i] = rssMiB(b, pid)
	}
	sort.Float64s(readings)
	return readings[rssReadings/2]
}

func rssMiB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kib, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
