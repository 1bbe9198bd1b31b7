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

package chartrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/klog/v2"
)

// VersionExistsError says a repository already holds the chart version.
type VersionExistsError struct{ Chart, Version string }

func (e *VersionExistsError) Error() string {
	return fmt.Sprintf("the repository already holds version %s of %s", e.Version, e.Chart)
}

// ErrVersionNotFound says a repository does not hold the chart version.
var ErrVersionNotFound = errors.New("the repository does not hold this chart version")

// Store keeps the packages of Local repositories on disk, a directory per
// repository named by its UID (a repository deleted and created again
// starts empty): <dir>/<uid>/<chart>-<version>.tgz. Packages are written to
// a temporary file, synced and renamed, so a crash leaves either the old
// package or the new one.
type Store struct {
	dir    string
	limits Limits
	// mu serialises writes, so that two uploads of one version do not both
	// find it absent.
	mu sync.Mutex
}

// NewStore keeps packages under dir.
func NewStore(dir string, limits Limits) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("chart storage: %w", err)
	}
	return &Store{dir: dir, limits: limits}, nil
}

// Limits are what the store accepts of an archive.
func (s *Store) Limits() Limits { return s.limits }

// PackageFile is the file name of a chart version's package.
func PackageFile(chart, version string) string { return chart + "-" + version + ".tgz" }

// PackageURL is where the index points helm for a package: relative to the
// repository, as helm resolves it.
func PackageURL(chart, version string) string { return "charts/" + PackageFile(chart, version) }

// Put validates an archive and stores it in the repository; a version it
// holds already is replaced only with overwrite.
func (s *Store) Put(uid types.UID, archive []byte, overwrite bool) (*ChartVersion, error) {
	loaded, err := LoadArchive(archive, s.limits)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(archive)
	version := &ChartVersion{
		Metadata: loaded.Metadata,
		URLs:     []string{PackageURL(loaded.Name(), loaded.Metadata.Version)},
		Created:  time.Now().UTC(),
		Digest:   hex.EncodeToString(digest[:]),
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.repositoryDir(uid)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	target := filepath.Join(dir, PackageFile(loaded.Name(), loaded.Metadata.Version))
	if _, err := os.Stat(target); err == nil && !overwrite {
		return nil, &VersionExistsError{Chart: loaded.Name(), Version: loaded.Metadata.Version}
	}
	if err := writeDurably(dir, target, archive); err != nil {
		return nil, err
	}
	return version, s.newRevision(uid)
}

// writeDurably writes data to target through a synced temporary file and
// a rename, then syncs the directory so the rename survives a crash.
func writeDurably(dir, target string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes a chart version from the repository.
func (s *Store) Delete(uid types.UID, chart, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := os.Remove(filepath.Join(s.repositoryDir(uid), PackageFile(chart, version)))
	if errors.Is(err, os.ErrNotExist) {
		return ErrVersionNotFound
	}
	if err != nil {
		return err
	}
	return s.newRevision(uid)
}

// Open opens a package of the repository by its file name.
func (s *Store) Open(uid types.UID, file string) (*os.File, error) {
	if file != filepath.Base(file) || !strings.HasSuffix(file, ".tgz") || strings.HasPrefix(file, ".") {
		return nil, os.ErrNotExist
	}
	return os.Open(filepath.Join(s.repositoryDir(uid), file))
}

// Index reads the repository's packages into an index. A package that no
// longer loads (written by an older archon with other rules) is left out
// and logged rather than failing the whole repository.
func (s *Store) Index(uid types.UID) (*IndexFile, error) {
	index := &IndexFile{APIVersion: "v1", Generated: time.Now().UTC(), Entries: map[string][]*ChartVersion{}}
	entries, err := os.ReadDir(s.repositoryDir(uid))
	if errors.Is(err, os.ErrNotExist) {
		return index, nil
	}
	if err != nil {
		return nil, err
	}
	for _, entry := range entries {
		if entry.IsDir() || !strings.HasSuffix(entry.Name(), ".tgz") || strings.HasPrefix(entry.Name(), ".") {
			continue
		}
		file := filepath.Join(s.repositoryDir(uid), entry.Name())
		archive, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		loaded, err := LoadArchive(archive, s.limits)
		if err != nil {
			klog.ErrorS(err, "A stored chart package does not load; leaving it out of the index", "file", file)
			continue
		}
		info, err := entry.Info()
		if err != nil {
			return nil, err
		}
		digest := sha256.Sum256(archive)
		name := loaded.Name()
		index.Entries[name] = append(index.Entries[name], &ChartVersion{
			Metadata: loaded.Metadata,
			URLs:     []string{PackageURL(name, loaded.Metadata.Version)},
			Created:  info.ModTime().UTC(),
			Digest:   hex.EncodeToString(digest[:]),
		})
	}
	for _, versions := range index.Entries {
		sortVersions(versions)
	}
	return index, nil
}

// revisionFile names, in a repository's directory, the revision its
// packages are at: a random token every write replaces, so that replicas
// sharing the store can tell the packages changed since they read them.
// (Directory times cannot: they move in clock ticks, which two writes can
// share.)
const revisionFile = ".revision"

// Revision is the revision of a repository's packages; empty when it
// holds none yet.
func (s *Store) Revision(uid types.UID) (string, error) {
	revision, err := os.ReadFile(filepath.Join(s.repositoryDir(uid), revisionFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return string(revision), err
}

// newRevision records that the repository's packages changed; s.mu is
// held.
func (s *Store) newRevision(uid types.UID) error {
	dir := s.repositoryDir(uid)
	return writeDurably(dir, filepath.Join(dir, revisionFile), []byte(uuid.NewUUID()))
}

// Remove deletes every package of a repository that no longer exists.
func (s *Store) Remove(uid types.UID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return os.RemoveAll(s.repositoryDir(uid))
}

// Repositories lists the UIDs of the repositories holding packages.
func (s *Store) Repositories() ([]types.UID, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var uids []types.UID
	for _, entry := range entries {
		if entry.IsDir() {
			uids = append(uids, types.UID(entry.Name()))
		}
	}
	return uids, nil
}

func (s *Store) repositoryDir(uid types.UID) string {
	return filepath.Join(s.dir, filepath.Base(string(uid)))
}
