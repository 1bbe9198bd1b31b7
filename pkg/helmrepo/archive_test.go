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

package helmrepo

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/acp-archon/archon/internal/charttest"
)

func TestLoadArchiveAcceptsAChart(t *testing.T) {
	loaded, err := LoadArchive(charttest.Chart("web", "1.2.3"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Name() != "web" || loaded.Metadata.Version != "1.2.3" || len(loaded.Templates) != 1 {
		t.Errorf("loaded %s %s with %d templates", loaded.Name(), loaded.Metadata.Version, len(loaded.Templates))
	}
}

func TestLoadArchiveRefusesBadArchives(t *testing.T) {
	small := Limits{Archive: 64 << 10, File: 1 << 20, Total: 2 << 20}
	random := make([]byte, 80<<10)
	_, _ = rand.Read(random)
	for _, tc := range []struct {
		name    string
		archive []byte
		limits  Limits
		want    string
		tooBig  bool
	}{
		{name: "not gzip", archive: []byte("apiVersion: v2\nname: web\n"), want: "gzipped tar"},
		{name: "no Chart.yaml", archive: charttest.Archive(charttest.Entry{Name: "web/values.yaml", Data: []byte("a: 1\n")}), want: "no web/Chart.yaml"},
		{name: "bad semver", archive: charttest.Archive(charttest.Entry{Name: "web/Chart.yaml", Data: charttest.ChartYAML("web", "one.two", "1")}), want: "version"},
		{name: "parent path", archive: charttest.Archive(
			charttest.Entry{Name: "web/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")},
			charttest.Entry{Name: "web/../../etc/passwd", Data: []byte("x")}), want: "climbs out"},
		{name: "absolute path", archive: charttest.Archive(charttest.Entry{Name: "/web/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")}), want: "absolute"},
		{name: "symlink", archive: charttest.Archive(
			charttest.Entry{Name: "web/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")},
			charttest.Entry{Name: "web/values.yaml", Type: tar.TypeSymlink, Linkname: "/etc/passwd"}), want: "is a link"},
		{name: "hard link", archive: charttest.Archive(
			charttest.Entry{Name: "web/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")},
			charttest.Entry{Name: "web/values.yaml", Type: tar.TypeLink, Linkname: "web/Chart.yaml"}), want: "is a link"},
		{name: "two directories", archive: charttest.Archive(
			charttest.Entry{Name: "web/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")},
			charttest.Entry{Name: "other/values.yaml", Data: []byte("a: 1\n")}), want: "outside the chart's directory"},
		{name: "directory not named after the chart", archive: charttest.Archive(charttest.Entry{Name: "site/Chart.yaml", Data: charttest.ChartYAML("web", "1.0.0", "1")}), want: "directory of its name"},
		{name: "dotted chart name", archive: charttest.Archive(charttest.Entry{Name: "web.app/Chart.yaml", Data: charttest.ChartYAML("web.app", "1.0.0", "1")}), want: "Chart.yaml name"},
		{name: "oversized archive", archive: charttest.Chart("web", "1.0.0", charttest.Entry{Name: "blob", Data: random}), limits: small, tooBig: true, want: "the limit is"},
		{name: "bomb", archive: charttest.Chart("web", "1.0.0", charttest.Entry{Name: "zeros", Data: make([]byte, 3<<20)}), limits: small, tooBig: true, want: "decompressed"},
		{name: "many files over the total", archive: charttest.Chart("web", "1.0.0",
			charttest.Entry{Name: "a", Data: make([]byte, 900<<10)}, charttest.Entry{Name: "b", Data: make([]byte, 900<<10)},
			charttest.Entry{Name: "c", Data: make([]byte, 900<<10)}), limits: small, tooBig: true, want: "decompressed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := tc.limits
			if limits == (Limits{}) {
				limits = DefaultLimits
			}
			_, err := LoadArchive(tc.archive, limits)
			var invalid *InvalidArchiveError
			var tooLarge *TooLargeError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.tooBig && !errors.As(err, &tooLarge):
				t.Errorf("%v: want a TooLargeError", err)
			case !tc.tooBig && !errors.As(err, &invalid):
				t.Errorf("%v: want an InvalidArchiveError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadArchiveCountsSubchartsAgainstTheLimits(t *testing.T) {
	limits := Limits{Archive: 1 << 20, File: 1 << 20, Total: 4 << 20}
	// Each subchart inflates to almost 1 MiB, within the per-file limit;
	// ten of them are over the total, though the upload is small.
	var subcharts []charttest.Entry
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("sub%d", i)
		subcharts = append(subcharts, charttest.Entry{Name: "charts/" + name + "-1.0.0.tgz",
			Data: charttest.Chart(name, "1.0.0", charttest.Entry{Name: "zeros", Data: make([]byte, 1000<<10)})})
	}
	var tooLarge *TooLargeError
	if _, err := LoadArchive(charttest.Chart("web", "1.0.0", subcharts...), limits); !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "subcharts included") {
		t.Errorf("subcharts over the total: %v", err)
	}
	if loaded, err := LoadArchive(charttest.Chart("web", "1.0.0", subcharts[:2]...), limits); err != nil || len(loaded.Dependencies()) != 2 {
		t.Errorf("two subcharts within the limits: %v", err)
	}
	link := charttest.Archive(charttest.Entry{Name: "sub/Chart.yaml", Data: charttest.ChartYAML("sub", "1.0.0", "1")},
		charttest.Entry{Name: "sub/values.yaml", Type: tar.TypeSymlink, Linkname: "/etc/passwd"})
	var invalid *InvalidArchiveError
	if _, err := LoadArchive(charttest.Chart("web", "1.0.0", charttest.Entry{Name: "charts/sub-1.0.0.tgz", Data: link}), limits); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "charts/sub-1.0.0.tgz") {
		t.Errorf("a subchart with a link: %v", err)
	}
}

func TestLoadArchiveBoundsTheNumberOfEntries(t *testing.T) {
	entries := make([]charttest.Entry, maxEntries+1)
	for i := range entries {
		entries[i] = charttest.Entry{Name: "empty"}
	}
	var tooLarge *TooLargeError
	if _, err := LoadArchive(charttest.Chart("web", "1.0.0", entries...), DefaultLimits); !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "entries") {
		t.Errorf("an archive of many empty files: %v", err)
	}
}

func TestLoadArchiveEnforcesThePerFileLimit(t *testing.T) {
	// The limit lies above every file of the chart but notes, so the
	// refusal can only be about notes.
	const limit = 4 << 10
	archive := charttest.Chart("web", "1.0.0", charttest.Entry{Name: "notes", Data: bytes.Repeat([]byte("x"), limit+1)})
	limits := Limits{Archive: 1 << 20, File: limit, Total: 1 << 20}
	var tooLarge *TooLargeError
	if _, err := LoadArchive(archive, limits); !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "notes") {
		t.Errorf("a file over the per-file limit: %v, want it refused naming notes", err)
	}
	fits := charttest.Chart("web", "1.0.0", charttest.Entry{Name: "notes", Data: bytes.Repeat([]byte("x"), limit)})
	if _, err := LoadArchive(fits, limits); err != nil {
		t.Errorf("a file at the per-file limit: %v", err)
	}
}

// Archives helm unpacks from subcharts kept as directories count against
// the one budget, read as streams: a small upload holding three archives
// of 95 MiB each is refused as too large, and checking it allocates a
// small part of what it would inflate to.
func TestLoadArchiveCountsNestedArchivesAtAnyDepth(t *testing.T) {
	bomb := charttest.NestedBomb(3, 95<<20, 4<<20)
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes; the test wants a small upload", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := LoadArchive(bomb, DefaultLimits)
	runtime.ReadMemStats(&after)
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "subcharts included") {
		t.Fatalf("a %d-byte archive inflating to 285 MiB through nested subcharts: %v, want TooLargeError", len(bomb), err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 16<<20 {
		t.Errorf("checking the archive allocated %d MiB; nested archives must be streamed, not held", allocated>>20)
	}

	// Within the budget, nested archives load as helm loads them.
	small := charttest.NestedBomb(2, 1<<20, 512<<10)
	loaded, err := LoadArchive(small, DefaultLimits)
	if err != nil || len(loaded.Dependencies()) != 1 || len(loaded.Dependencies()[0].Dependencies()) != 2 {
		t.Fatalf("a chart with a directory subchart holding two archives: %v", err)
	}
}

func TestIsSubchartArchive(t *testing.T) {
	for rel, want := range map[string]bool{
		"charts/a-1.0.0.tgz":                   true,
		"charts/a-1.0.0.tar.gz":                true,
		"charts/a/charts/b-1.0.0.tgz":          true,
		"charts/a/charts/b/charts/c-1.0.0.tgz": true,
		"charts/a/templates/b-1.0.0.tgz":       false,
		"templates/charts/a-1.0.0.tgz":         false,
		"files/a.tgz":                          false,
		"charts/a/charts/b/values.yaml":        false,
		"charts/a.txt":                         false,
	} {
		if got := isSubchartArchive(rel); got != want {
			t.Errorf("%s: %v, want %v", rel, got, want)
		}
	}
}

// The YAML helm parses while it loads a chart counts against a node
// budget, subcharts included: a values.yaml of a flow sequence of 0s is
// within the byte limits and decodes to millions of nodes.
func TestLoadArchiveBoundsTheYAMLNodesHelmParses(t *testing.T) {
	bomb := append([]byte("items: ["), bytes.Repeat([]byte("0,"), 2<<20)...)
	var tooLarge *TooLargeError
	for name, archive := range map[string][]byte{
		"values.yaml":            charttest.Chart("web", "1.0.0", charttest.Entry{Name: "values.yaml", Data: bomb}),
		"a directory subchart's": charttest.Chart("web", "1.0.0", charttest.Entry{Name: "charts/sub/Chart.yaml", Data: charttest.ChartYAML("sub", "1.0.0", "1")}, charttest.Entry{Name: "charts/sub/values.yaml", Data: bomb}),
		"a nested archive's":     charttest.Chart("web", "1.0.0", charttest.Entry{Name: "charts/sub-1.0.0.tgz", Data: charttest.Chart("sub", "1.0.0", charttest.Entry{Name: "values.yaml", Data: bomb})}),
	} {
		if _, err := LoadArchive(archive, DefaultLimits); !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "YAML nodes") {
			t.Errorf("%s values.yaml of four million nodes: %v, want TooLargeError", name, err)
		}
	}
	// Subcharts of ordinary YAML share one budget: 15,000 keys each, 30,000
	// nodes.
	var values bytes.Buffer
	for i := 0; i < 15000; i++ {
		fmt.Fprintf(&values, "key%06d: value\n", i)
	}
	var subcharts []charttest.Entry
	for i := 0; i < 12; i++ {
		sub := fmt.Sprintf("charts/sub%d/", i)
		subcharts = append(subcharts, charttest.Entry{Name: sub + "Chart.yaml", Data: charttest.ChartYAML(fmt.Sprintf("sub%d", i), "1.0.0", "1")},
			charttest.Entry{Name: sub + "values.yaml", Data: values.Bytes()})
	}
	if _, err := LoadArchive(charttest.Chart("web", "1.0.0", subcharts...), DefaultLimits); !errors.As(err, &tooLarge) {
		t.Errorf("twelve subcharts of 30,000 nodes each: %v, want TooLargeError", err)
	}
	if _, err := LoadArchive(charttest.Chart("web", "1.0.0", subcharts[:4]...), DefaultLimits); err != nil {
		t.Errorf("four subcharts of 30,000 nodes each: %v", err)
	}
}
