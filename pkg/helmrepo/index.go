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
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart"
	sigsyaml "sigs.k8s.io/yaml"
)

// IndexFile is a repository's index.yaml, as helm reads and writes it.
type IndexFile struct {
	APIVersion string                     `json:"apiVersion"`
	Generated  time.Time                  `json:"generated"`
	Entries    map[string][]*ChartVersion `json:"entries"`
}

// ChartVersion is one version of a chart in an index: its Chart.yaml and
// where its package is.
type ChartVersion struct {
	*chart.Metadata
	URLs    []string  `json:"urls"`
	Created time.Time `json:"created,omitempty"`
	Digest  string    `json:"digest,omitempty"`
}

// remoteIndex is the part of a remote index.yaml the catalog keeps. It
// is decoded with YAML tags straight into these fields: going through JSON
// as helm does costs several times the memory, and public indexes are tens
// of megabytes.
type remoteIndex struct {
	APIVersion string                     `yaml:"apiVersion"`
	Entries    map[string][]remoteVersion `yaml:"entries"`
}

type remoteVersion struct {
	Name        string    `yaml:"name"`
	Version     string    `yaml:"version"`
	AppVersion  string    `yaml:"appVersion"`
	Description string    `yaml:"description"`
	URLs        []string  `yaml:"urls"`
	Created     time.Time `yaml:"created"`
	Digest      string    `yaml:"digest"`
}

// ParseIndex reads an index.yaml, keeping the versions helm could install
// and archon can name: charts whose names are DNS labels, versions with a
// semantic version and a package URL.
func ParseIndex(data []byte) (*IndexFile, error) {
	budget := indexNodeBudget(len(data))
	if nodes := countYAMLNodes(data, budget); nodes > budget {
		return nil, fmt.Errorf("index.yaml holds more than %d YAML nodes, more than a helm index of %d bytes would: refused unread", budget, len(data))
	}
	var remote remoteIndex
	if err := yaml.Unmarshal(data, &remote); err != nil {
		// The decoder's message may quote the document, which came from
		// wherever the repository's URL pointed: say where, not what.
		return nil, fmt.Errorf("index.yaml is not a helm repository index (%s)", yamlErrorPosition(err))
	}
	if remote.APIVersion == "" {
		return nil, errors.New("index.yaml has no apiVersion: it is not a helm repository index")
	}
	index := &IndexFile{APIVersion: remote.APIVersion, Entries: map[string][]*ChartVersion{}}
	for name, versions := range remote.Entries {
		if ValidateChartName(name) != nil {
			continue
		}
		var kept []*ChartVersion
		for _, v := range versions {
			if v.Name != name || len(v.URLs) == 0 {
				continue
			}
			if _, err := semver.NewVersion(v.Version); err != nil {
				continue
			}
			kept = append(kept, &ChartVersion{
				Metadata: &chart.Metadata{Name: v.Name, Version: v.Version, AppVersion: v.AppVersion, Description: v.Description},
				URLs:     v.URLs, Created: v.Created, Digest: v.Digest,
			})
		}
		if len(kept) > 0 {
			sortVersions(kept)
			index.Entries[name] = kept
		}
	}
	return index, nil
}

// yamlErrorPosition is the line a YAML error names, without the content
// the error may quote.
func yamlErrorPosition(err error) string {
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		return "values of the wrong type"
	}
	if line := yamlLine.FindString(err.Error()); line != "" {
		return "invalid YAML at " + line
	}
	return "invalid YAML"
}

var yamlLine = regexp.MustCompile(`line \d+`)

// Marshal writes the index as helm reads it.
func (i *IndexFile) Marshal() ([]byte, error) {
	if i.Entries == nil {
		i.Entries = map[string][]*ChartVersion{}
	}
	return sigsyaml.Marshal(i)
}

// Charts counts the charts of the index.
func (i *IndexFile) Charts() int { return len(i.Entries) }

// sortVersions puts the newest version first, as helm does.
func sortVersions(versions []*ChartVersion) {
	sort.SliceStable(versions, func(a, b int) bool {
		va, errA := semver.NewVersion(versions[a].Version)
		vb, errB := semver.NewVersion(versions[b].Version)
		if errA != nil || errB != nil {
			return versions[a].Version > versions[b].Version
		}
		return va.GreaterThan(vb)
	})
}
