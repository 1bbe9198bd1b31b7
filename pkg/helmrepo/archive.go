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

// Package helmrepo holds Helm chart repositories for archon: the checks
// an uploaded chart archive passes, the on-disk store of Local
// repositories, the index helm reads, the synchronization of remote
// repositories, and the in-memory catalog of every repository's charts.
package helmrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Limits bound what a chart archive may hold.
type Limits struct {
	// Archive is the largest compressed archive accepted.
	Archive int64
	// File is the largest file inside it, decompressed.
	File int64
	// Total is the most all its files may hold, decompressed: a small
	// archive that inflates past it is a decompression bomb.
	Total int64
}

// DefaultLimits are helm's own limits on what it loads, with a compressed
// size fit for an API request.
var DefaultLimits = Limits{Archive: 20 << 20, File: 5 << 20, Total: 100 << 20}

// InvalidArchiveError says why an archive is not an acceptable chart.
type InvalidArchiveError struct{ Reason string }

func (e *InvalidArchiveError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidArchiveError{Reason: fmt.Sprintf(format, args...)}
}

// TooLargeError says an archive or what it holds is over the limits.
type TooLargeError struct{ Reason string }

func (e *TooLargeError) Error() string { return e.Reason }

const (
	// maxEntries bounds the entries of an archive and the subcharts in it:
	// empty files cost no bytes but each costs memory.
	maxEntries = 10000
	// headerCost is what each entry counts against the total, as a tar
	// header takes that much.
	headerCost = 512
	// maxNesting bounds subcharts inside subcharts.
	maxNesting = 5
)

// LoadArchive checks a chart archive and loads it with helm's loader: a
// gzipped tar of regular files under one directory named after the chart,
// no links, devices or paths leaving that directory, within the limits,
// with a Chart.yaml whose name and semantic version helm accepts.
// Every archive helm would unpack from it (charts/*.tgz, in the chart and
// in subcharts kept as directories, at any depth) is read first, as a
// stream, its contents counted against the same limits. At most
// maxConcurrentLoads archives are loaded at once; more wait.
func LoadArchive(data []byte, limits Limits) (*chart.Chart, error) {
	if int64(len(data)) > limits.Archive {
		return nil, &TooLargeError{Reason: fmt.Sprintf("the archive is %d bytes; the limit is %d", len(data), limits.Archive)}
	}
	loadSlots <- struct{}{}
	defer func() { <-loadSlots }()

	budget := &budget{limits: limits, remaining: limits.Total, entries: maxEntries, nodes: maxChartNodes}
	top, files, err := budget.scan(data)
	if err != nil {
		return nil, err
	}
	if !hasFile(files, "Chart.yaml") {
		return nil, invalid("the archive has no %s/Chart.yaml", top)
	}
	loaded, err := loader.LoadFiles(files)
	if err != nil {
		return nil, invalid("helm cannot load the chart: %v", err)
	}
	if err := ValidateChartName(loaded.Name()); err != nil {
		return nil, invalid("Chart.yaml name %q: %v", loaded.Name(), err)
	}
	if loaded.Name() != top {
		return nil, invalid("the chart %q must be in a directory of its name, not %q", loaded.Name(), top)
	}
	return loaded, nil
}

// maxConcurrentLoads bounds the archives loaded at once: each may hold
// up to Limits.Total decompressed while helm reads it.
const maxConcurrentLoads = 4

var loadSlots = make(chan struct{}, maxConcurrentLoads)

// budget is what is left of the limits while an archive and its subcharts
// are read.
type budget struct {
	limits    Limits
	remaining int64
	entries   int
	// nodes is what is left of the YAML nodes the files helm parses as
	// it loads the chart may hold, subcharts included.
	nodes int
}

// maxChartNodes bounds the YAML nodes of the files helm parses while it
// loads a chart (Chart.yaml, values.yaml and the like, subcharts
// included): decoding costs hundreds of bytes a node, whatever the bytes.
// Large charts hold tens of thousands.
const maxChartNodes = 250_000

// checkNodes counts the nodes of a file helm parses at load against the
// budget, and refuses one denser than YAML that people write.
func (b *budget) checkNodes(rel string, data []byte) error {
	if !parsedAtLoad(rel) {
		return nil
	}
	limit := min(b.nodes, indexNodeBudget(len(data)))
	nodes := countYAMLNodes(data, limit)
	if nodes > limit {
		return &TooLargeError{Reason: fmt.Sprintf("%q holds more YAML nodes than a chart of this size may (%d at most, %d left of the chart's %d)",
			rel, indexNodeBudget(len(data)), b.nodes, maxChartNodes)}
	}
	b.nodes -= nodes
	return nil
}

// parsedAtLoad says whether helm's loader parses the file at rel (a path
// inside a chart) as it loads the chart: the YAML files at the root of the
// chart or of a subchart kept as a directory.
func parsedAtLoad(rel string) bool {
	for {
		rest, found := strings.CutPrefix(rel, "charts/")
		if !found {
			break
		}
		_, inner, isDir := strings.Cut(rest, "/")
		if !isDir {
			return false
		}
		rel = inner
	}
	switch rel {
	case "Chart.yaml", "values.yaml", "requirements.yaml", "requirements.lock", "Chart.lock":
		return true
	}
	return false
}

// scan reads a gzipped tar of one directory into files and checks it, and
// the subchart archives in it, against the budget. It returns the
// directory's name and its files, by their path inside it.
func (b *budget) scan(data []byte) (string, []*loader.BufferedFile, error) {
	var files []*loader.BufferedFile
	top, err := b.walk(bytes.NewReader(data), 0, func(rel string, content io.Reader, depth int) error {
		// Tar headers can lie about sizes: read at most what is left.
		data, err := io.ReadAll(io.LimitReader(content, b.limits.File+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > b.limits.File {
			return &TooLargeError{Reason: fmt.Sprintf("%q is larger than %d bytes decompressed", rel, b.limits.File)}
		}
		if err := b.checkNodes(rel, data); err != nil {
			return err
		}
		if isSubchartArchive(rel) {
			// helm unpacks subcharts with its own, larger limits: count
			// what they hold here first.
			if _, err := b.walk(bytes.NewReader(data), depth+1, b.discard); err != nil {
				return fmt.Errorf("subchart %s: %w", rel, err)
			}
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if len(files) == 0 {
		return "", nil, invalid("the archive holds no files")
	}
	return top, files, nil
}

// discard reads a file of a subchart archive without keeping it, and any
// archive helm would unpack from it, at the next depth, the same way:
// however deep the nesting, nothing is held but the stream's buffers.
func (b *budget) discard(rel string, content io.Reader, depth int) error {
	switch {
	case isSubchartArchive(rel):
		if _, err := b.walk(content, depth+1, b.discard); err != nil {
			return fmt.Errorf("subchart %s: %w", rel, err)
		}
	case parsedAtLoad(rel):
		// Read whole to count its nodes: at most the per-file limit.
		data, err := io.ReadAll(content)
		if err != nil {
			return err
		}
		return b.checkNodes(rel, data)
	}
	_, err := io.Copy(io.Discard, content)
	return err
}

// walk reads a gzipped tar of one directory from r, an archive nested
// depth deep, checking each entry against the budget, and hands each
// regular file to visit by its path inside the directory, as a reader of
// at most the per-file limit whose bytes count against the total as they
// are read. It returns the directory's name.
func (b *budget) walk(r io.Reader, depth int, visit func(rel string, content io.Reader, depth int) error) (string, error) {
	if depth > maxNesting {
		return "", invalid("subcharts nest more than %d deep", maxNesting)
	}
	unzipped, err := gzip.NewReader(r)
	if err != nil {
		return "", invalid("a chart is a gzipped tar archive (.tgz): %v", err)
	}
	defer unzipped.Close()

	top := ""
	tr := tar.NewReader(unzipped)
	for {
		header, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if tooLarge := (*TooLargeError)(nil); errors.As(err, &tooLarge) {
				return "", err
			}
			return "", invalid("reading the tar archive: %v", err)
		}
		b.entries--
		b.remaining -= headerCost
		if b.entries < 0 {
			return "", &TooLargeError{Reason: fmt.Sprintf("the chart holds more than %d entries, subcharts included", maxEntries)}
		}
		if b.remaining < 0 {
			return "", b.tooLarge()
		}
		switch header.Typeflag {
		case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeDir:
			continue
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return "", invalid("%q is a link; charts hold regular files only", header.Name)
		default:
			return "", invalid("%q is not a regular file; charts hold regular files only", header.Name)
		}
		dir, rel, err := splitEntry(header.Name)
		if err != nil {
			return "", err
		}
		if top == "" {
			top = dir
		} else if dir != top {
			return "", invalid("%q is outside the chart's directory %q", header.Name, top)
		}
		if header.Size > b.limits.File {
			return "", &TooLargeError{Reason: fmt.Sprintf("%q is %d bytes decompressed; the limit is %d", header.Name, header.Size, b.limits.File)}
		}
		content := &budgetReader{budget: b, r: io.LimitReader(tr, b.limits.File+1), name: header.Name}
		if err := visit(rel, content, depth); err != nil {
			return "", err
		}
		if content.read > b.limits.File {
			return "", &TooLargeError{Reason: fmt.Sprintf("%q is larger than %d bytes decompressed", header.Name, b.limits.File)}
		}
	}
	return top, nil
}

// budgetReader counts what it reads against the budget's total and fails
// with TooLargeError once the total is spent.
type budgetReader struct {
	budget *budget
	r      io.Reader
	name   string
	read   int64
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read += int64(n)
	r.budget.remaining -= int64(n)
	if r.budget.remaining < 0 {
		return n, r.budget.tooLarge()
	}
	return n, err
}

func (b *budget) tooLarge() error {
	return &TooLargeError{Reason: fmt.Sprintf("the chart is larger than %d bytes decompressed, subcharts included", b.limits.Total)}
}

// isSubchartArchive says whether helm's loader unpacks the file at rel (a
// path inside a chart) as a subchart archive: charts/<name>.tgz of the
// chart, or of a subchart kept as a directory (charts/<dir>/...), at any
// depth. (.tar.gz is counted too, though helm leaves it packed.)
func isSubchartArchive(rel string) bool {
	for {
		rest, found := strings.CutPrefix(rel, "charts/")
		if !found {
			return false
		}
		name, inner, isDir := strings.Cut(rest, "/")
		if !isDir {
			return strings.HasSuffix(name, ".tgz") || strings.HasSuffix(name, ".tar.gz")
		}
		rel = inner
	}
}

// splitEntry splits an archive path into the chart's directory and the
// path inside it, refusing absolute paths and any that climb out.
func splitEntry(name string) (string, string, error) {
	if strings.Contains(name, "\\") {
		return "", "", invalid("%q: archive paths use \"/\"", name)
	}
	if path.IsAbs(name) {
		return "", "", invalid("%q is an absolute path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", "", invalid("%q climbs out of the chart's directory", name)
		}
	}
	clean := path.Clean(name)
	dir, rel, found := strings.Cut(clean, "/")
	if !found || rel == "" {
		return "", "", invalid("%q is not inside the chart's directory", name)
	}
	return dir, rel, nil
}

func hasFile(files []*loader.BufferedFile, name string) bool {
	for _, f := range files {
		if f.Name == name {
			return true
		}
	}
	return false
}

// ValidateChartName accepts the chart names archon can serve: DNS labels,
// so that a Chart named <chart>.<repository> says where its name ends.
func ValidateChartName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
