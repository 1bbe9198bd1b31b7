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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/klog/v2"

	"github.com/acp-archon/archon/pkg/keyedmutex"
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
// starts empty) and one per chart in it:
// <dir>/<uid>/<chart>/<chart>-<version>.tgz. Packages are written to a
// temporary file, synced and renamed, and the directories synced, so a
// crash leaves either the old package or the new one.
type Store struct {
	dir    string
	limits Limits
	// locks serialize the writes to each repository, so that two uploads
	// of one version do not both find it absent.
	locks keyedmutex.Mutex[types.UID]
	// read caches what each package file holds, so that reading a
	// repository again loads only the packages that changed.
	readMu sync.Mutex
	read   map[string]readPackage
}

// readPackage is a package file as it was read.
type readPackage struct {
	size     int64
	modified time.Time
	version  *ChartVersion
}

// NewStore returns a store keeping packages under dir.
func NewStore(dir string, limits Limits) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("chart storage: %w", err)
	}
	return &Store{dir: dir, limits: limits, read: map[string]readPackage{}}, nil
}

// Limits returns the bounds the store holds an archive to.
func (s *Store) Limits() Limits { return s.limits }

// PackageFile is the file name of a chart version's package.
func PackageFile(chart, version string) string { return chart + "-" + version + ".tgz" }

// PackageURL is where the index points helm for a package: relative to the
// repository, as helm resolves it, and ending in the file name helm pull
// saves it as.
func PackageURL(chart, version string) string {
	return "charts/" + chart + "/" + PackageFile(chart, version)
}

// Put stores a chart archive, checked and loaded by LoadArchive, in the
// repository; a version it holds already is replaced only with overwrite.
// Without overwrite a version is created only if absent, across every
// process sharing the directory: of replicas racing to store one version,
// one succeeds and the others get VersionExistsError, except those storing
// the very same bytes, which succeed without writing.
func (s *Store) Put(uid types.UID, archive []byte, loaded *chart.Chart, overwrite bool) (*ChartVersion, error) {
	name, version := loaded.Name(), loaded.Metadata.Version
	defer s.locks.Lock(uid)()
	dir := filepath.Join(s.repositoryDir(uid), name)
	if err := s.makeDirs(dir); err != nil {
		return nil, err
	}
	target := filepath.Join(dir, PackageFile(name, version))
	if overwrite {
		if err := writeDurably(dir, target, archive); err != nil {
			return nil, err
		}
		return storedVersion(loaded, archive, target), s.newRevision(uid)
	}
	created, err := createDurably(dir, target, archive)
	if err != nil {
		return nil, err
	}
	if !created {
		existing, err := os.ReadFile(target)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(existing, archive) {
			return nil, &VersionExistsError{Chart: name, Version: version}
		}
		return storedVersion(loaded, archive, target), nil // stored already, byte for byte
	}
	return storedVersion(loaded, archive, target), s.newRevision(uid)
}

// chartVersion is the index entry of a package: its metadata, where helm
// fetches it, when it was stored and its digest. Uploads and index reads
// both make entries here, so an upload answers what the index will say.
func chartVersion(loaded *chart.Chart, archive []byte, created time.Time) *ChartVersion {
	digest := sha256.Sum256(archive)
	return &ChartVersion{
		Metadata: loaded.Metadata,
		URLs:     []string{PackageURL(loaded.Name(), loaded.Metadata.Version)},
		Created:  created.UTC(),
		Digest:   hex.EncodeToString(digest[:]),
	}
}

// storedVersion is the entry of a package just stored at file, created
// when the file was last written, as an index read will find it.
func storedVersion(loaded *chart.Chart, archive []byte, file string) *ChartVersion {
	created := time.Now()
	if info, err := os.Stat(file); err == nil {
		created = info.ModTime()
	}
	return chartVersion(loaded, archive, created)
}

// isPackageFile says whether a file name in a chart's directory is a
// package: a .tgz, and not a temporary file (those start with a dot).
func isPackageFile(name string) bool {
	return strings.HasSuffix(name, ".tgz") && !strings.HasPrefix(name, ".")
}

// makeDirs creates dir and its parents up to the store's directory,
// syncing each parent that gained one, so the new directories survive a
// crash.
func (s *Store) makeDirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.dir {
		if err := s.makeDirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(parent)
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
	return syncDir(dir)
}

// createDurably writes data to target unless target exists, through a
// synced temporary file hard-linked to target: link(2) fails when the name
// is taken, atomically, whichever process asks. It reports whether it
// created target.
func createDurably(dir, target string, data []byte) (bool, error) {
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Link(tmp.Name(), target); errors.Is(err, os.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes a chart version from the repository.
func (s *Store) Delete(uid types.UID, chart, version string) error {
	defer s.locks.Lock(uid)()
	dir := filepath.Join(s.repositoryDir(uid), filepath.Base(chart))
	err := os.Remove(filepath.Join(dir, filepath.Base(PackageFile(chart, version))))
	if errors.Is(err, os.ErrNotExist) {
		return ErrVersionNotFound
	}
	if err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return s.newRevision(uid)
}

// Open opens a package of the repository by its chart and file name.
func (s *Store) Open(uid types.UID, chart, file string) (*os.File, error) {
	for _, part := range []string{chart, file} {
		if part != filepath.Base(part) || strings.HasPrefix(part, ".") {
			return nil, os.ErrNotExist
		}
	}
	if !isPackageFile(file) {
		return nil, os.ErrNotExist
	}
	return os.Open(filepath.Join(s.repositoryDir(uid), chart, file))
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

// newRevision records that the repository's packages changed; its lock
// is held.
func (s *Store) newRevision(uid types.UID) error {
	dir := s.repositoryDir(uid)
	return writeDurably(dir, filepath.Join(dir, revisionFile), []byte(uuid.NewUUID()))
}

// Index reads the repository's packages into an index, loading only those
// it has not read as they are now. A package that no longer loads
// (written by an older archon with other rules) is left out and logged
// rather than failing the whole repository.
func (s *Store) Index(uid types.UID) (*IndexFile, error) {
	index := &IndexFile{APIVersion: "v1", Generated: time.Now().UTC(), Entries: map[string][]*ChartVersion{}}
	charts, err := os.ReadDir(s.repositoryDir(uid))
	if errors.Is(err, os.ErrNotExist) {
		return index, nil
	}
	if err != nil {
		return nil, err
	}
	for _, chartDir := range charts {
		if !chartDir.IsDir() || strings.HasPrefix(chartDir.Name(), ".") {
			continue
		}
		dir := filepath.Join(s.repositoryDir(uid), chartDir.Name())
		packages, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, entry := range packages {
			if entry.IsDir() || !isPackageFile(entry.Name()) {
				continue
			}
			version, err := s.readPackage(filepath.Join(dir, entry.Name()))
			if err != nil {
				klog.ErrorS(err, "A stored chart package does not load; leaving it out of the index", "file", filepath.Join(dir, entry.Name()))
				continue
			}
			if version.Name != chartDir.Name() || entry.Name() != PackageFile(version.Name, version.Version) {
				klog.InfoS("A stored chart package is not where its Chart.yaml says; leaving it out of the index", "file", filepath.Join(dir, entry.Name()))
				continue
			}
			index.Entries[version.Name] = append(index.Entries[version.Name], version)
		}
	}
	for _, versions := range index.Entries {
		sortVersions(versions)
	}
	return index, nil
}

// readPackage loads a package file, or takes it from the cache when its
// size and modification time are those it was read with.
func (s *Store) readPackage(file string) (*ChartVersion, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	s.readMu.Lock()
	cached, ok := s.read[file]
	s.readMu.Unlock()
	if ok && cached.size == info.Size() && cached.modified.Equal(info.ModTime()) {
		return cached.version, nil
	}
	archive, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	loaded, err := LoadArchive(archive, s.limits)
	if err != nil {
		return nil, err
	}
	version := chartVersion(loaded, archive, info.ModTime())
	s.readMu.Lock()
	s.read[file] = readPackage{size: info.Size(), modified: info.ModTime(), version: version}
	s.readMu.Unlock()
	return version, nil
}

// Remove deletes every package of a repository that no longer exists.
func (s *Store) Remove(uid types.UID) error {
	defer s.locks.Lock(uid)()
	dir := s.repositoryDir(uid)
	s.readMu.Lock()
	for file := range s.read {
		if strings.HasPrefix(file, dir+string(filepath.Separator)) {
			delete(s.read, file)
		}
	}
	s.readMu.Unlock()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// Repositories lists the UIDs of the repositories holding packages, with
// when each last changed.
func (s *Store) Repositories() (map[types.UID]time.Time, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	uids := map[types.UID]time.Time{}
	for _, entry := range entries {
		if !entry.IsDir() {
			continue
		}
		info, err := entry.Info()
		if err != nil {
			continue
		}
		uids[types.UID(entry.Name())] = info.ModTime()
	}
	return uids, nil
}

func (s *Store) repositoryDir(uid types.UID) string {
	return filepath.Join(s.dir, filepath.Base(string(uid)))
}
