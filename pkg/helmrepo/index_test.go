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
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
)

// helmIndex is an index.yaml as helm writes it, of versions versions of
// charts with the metadata public charts carry.
func helmIndex(t testing.TB, versions int) []byte {
	t.Helper()
	index := &IndexFile{APIVersion: "v1", Generated: time.Now(), Entries: map[string][]*ChartVersion{}}
	for i := 0; i < versions; i++ {
		name := fmt.Sprintf("chart%d", i%50)
		metadata := &chart.Metadata{
			APIVersion: "v2", Name: name, Version: fmt.Sprintf("1.%d.%d", i/50, i%7), AppVersion: "2.4.1",
			Description: "A chart's description, as long as those of public charts tend to be: it says what it deploys.",
			Home:        "https://example.com/" + name, Icon: "https://example.com/" + name + ".png",
			Keywords: []string{"web", "http", "proxy"}, Sources: []string{"https://github.com/example/" + name},
			Maintainers:  []*chart.Maintainer{{Name: "Example", Email: "charts@example.com"}},
			Annotations:  map[string]string{"category": "Infrastructure", "licenses": "Apache-2.0"},
			Dependencies: []*chart.Dependency{{Name: "common", Version: "2.x.x", Repository: "oci://registry.example.com/charts", Tags: []string{"common"}}},
		}
		index.Entries[name] = append(index.Entries[name], &ChartVersion{Metadata: metadata, Created: time.Now(),
			URLs: []string{fmt.Sprintf("https://charts.example.com/%s-%s.tgz", name, metadata.Version)}, Digest: "0123456789abcdef"})
	}
	// Marshal writes what helm writes: the same types through the same
	// YAML library.
	data, err := index.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A helm index stays well inside the node budget of its size, whatever
// its quotes and colons.
func TestHelmIndexesFitTheNodeBudget(t *testing.T) {
	data := helmIndex(t, 3000)
	nodes := countYAMLNodes(data, 1<<30)
	t.Logf("helm's index of 3000 versions: %d bytes, %d nodes counted, %d bytes a node", len(data), nodes, len(data)/nodes)
	if perNode := len(data) / nodes; perNode < 2*bytesPerIndexNode {
		t.Errorf("helm's index: %d bytes a node, want at least %d (twice the budget's)", perNode, 2*bytesPerIndexNode)
	}
	index, err := ParseIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	if index.Charts() != 50 || len(index.Entries["chart7"]) != 60 {
		t.Errorf("%d charts, %d versions of chart7", index.Charts(), len(index.Entries["chart7"]))
	}
}

// Documents far denser in nodes than any helm index are refused before
// the decoder allocates for them.
func TestIndexBombsAreRefusedUnread(t *testing.T) {
	for name, bomb := range map[string][]byte{
		"flow sequence":  append([]byte("apiVersion: v1\nentries: ["), bytes.Repeat([]byte("a,"), 2<<20)...),
		"nested flows":   append([]byte("apiVersion: v1\nentries: "), bytes.Repeat([]byte("[["), 1<<20)...),
		"block sequence": append([]byte("apiVersion: v1\nentries:\n"), bytes.Repeat([]byte("- - - - - - - - -\n"), 200000)...),
		"flow mappings":  append([]byte("apiVersion: v1\nentries: ["), bytes.Repeat([]byte("{a: b},"), 600000)...),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ParseIndex(bomb)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "YAML nodes") {
				t.Fatalf("a %d-byte bomb: %v, want refused for its nodes", len(bomb), err)
			}
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
				t.Errorf("refusing it allocated %d KiB", allocated>>10)
			}
		})
	}
}

// The count is an upper bound whatever quotes, block scalars and
// comments hide: a quote that YAML takes as text must not hide the nodes
// after it.
func TestCountYAMLNodesNeverCountsTooFew(t *testing.T) {
	for doc, want := range map[string]int{
		"a: b\n":                       3,
		"url: https://example.com/a\n": 3,
		"t: 2024-01-01T10:00:00Z\n":    3,
		"l:\n- a\n- b\n":               5,
		"l: [a, b, c]\n":               6,
		"x: *anchor\n":                 4,
		`{"a":1,"b":2}`:                7,
		"? complex\n: value\n":         5,
	} {
		if got := countYAMLNodes([]byte(doc), 1<<20); got != want {
			t.Errorf("%q: %d nodes, want %d", doc, got, want)
		}
	}
	flow := strings.Repeat("a,", 50000)
	for name, doc := range map[string]string{
		"an unclosed quote after a colon": "x: a:\"\ny: [" + flow + "]\n",
		"quotes in block scalars":         "a: |\n  \"\nb: [" + flow + "]\nc: |\n  \"\n",
		"a quote in a comment":            "# \"\nb: [" + flow + "]\n# \"\n",
		"single quotes around a flow":     "a: '\nb: [" + flow + "]\nc: '\n",
	} {
		if got := countYAMLNodes([]byte(doc), 1<<20); got < 50000 {
			t.Errorf("%s: %d nodes counted of more than 50000", name, got)
		}
	}
}
