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

// Package charttest builds chart archives for tests and benchmarks: good
// charts, and the bad archives a chart repository must refuse.
package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
)

// Entry is one entry of a tar archive.
type Entry struct {
	Name string
	Data []byte
	// Type is tar.TypeReg when zero.
	Type     byte
	Linkname string
	// Size overrides the header's size, for archives that lie.
	Size int64
}

// Archive gzips a tar of entries.
func Archive(entries ...Entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		header := &tar.Header{Name: e.Name, Mode: 0o644, Size: int64(len(e.Data)), Typeflag: e.Type, Linkname: e.Linkname}
		if header.Typeflag == 0 {
			header.Typeflag = tar.TypeReg
		}
		if header.Typeflag != tar.TypeReg {
			header.Size = 0
		}
		if e.Size != 0 {
			header.Size = e.Size
		}
		if err := tw.WriteHeader(header); err != nil {
			panic(err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := gz.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// ChartYAML is a Chart.yaml of an application chart.
func ChartYAML(name, version, appVersion string) []byte {
	return fmt.Appendf(nil, "apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\ndescription: The %s chart\ntype: application\n", name, version, appVersion, name)
}

// Chart is a valid chart archive: Chart.yaml, values.yaml and a ConfigMap
// template, plus extra files under the chart's directory.
func Chart(name, version string, extra ...Entry) []byte {
	entries := []Entry{
		{Name: name + "/Chart.yaml", Data: ChartYAML(name, version, "1.0")},
		{Name: name + "/values.yaml", Data: []byte("greeting: hello\n")},
		{Name: name + "/templates/configmap.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + name + "\ndata:\n  greeting: {{ .Values.greeting | quote }}\n")},
	}
	for _, e := range extra {
		e.Name = name + "/" + e.Name
		entries = append(entries, e)
	}
	return Archive(entries...)
}

// NestedBomb is a small chart archive that helm would inflate far: its
// subchart "sub", kept as a directory, holds n subchart archives that each
// inflate to size bytes of zeros, in files of at most fileSize bytes. A
// check that looks only at charts/*.tgz of the top chart misses them.
func NestedBomb(n int, size, fileSize int64) []byte {
	zeros := make([]byte, fileSize)
	extra := []Entry{{Name: "charts/sub/Chart.yaml", Data: ChartYAML("sub", "1.0.0", "1")}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bomb%d", i)
		entries := []Entry{{Name: name + "/Chart.yaml", Data: ChartYAML(name, "1.0.0", "1")}}
		for left, file := size, 0; left > 0; left, file = left-fileSize, file+1 {
			entries = append(entries, Entry{Name: fmt.Sprintf("%s/zeros%d", name, file), Data: zeros[:min(left, fileSize)]})
		}
		extra = append(extra, Entry{Name: "charts/sub/charts/" + name + "-1.0.0.tgz", Data: Archive(entries...)})
	}
	return Chart("web", "1.0.0", extra...)
}
