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
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/acp-archon/archon/pkg/keyedmutex"
)

// Local keeps the catalog's view of Local repositories in step with the
// store: loading a repository, uploading to it and deleting from it are
// serialized, repository by repository, so that a load reading the disk
// cannot pass over an upload.
// Replicas sharing a store see each other's writes: a repository whose
// revision changed since it was read is read again.
type Local struct {
	store   *Store
	catalog *Catalog
	locks   keyedmutex.Mutex[types.NamespacedName]
	// removed holds the UIDs of repositories deleted while archon ran.
	removedMu sync.Mutex
	removed   map[types.UID]bool
	// read holds, by repository, the store's revision of it when the
	// catalog last took it in.
	read sync.Map // types.NamespacedName -> readState
}

type readState struct {
	uid      types.UID
	revision string
}

// NewLocal returns the Local repositories of store, read into catalog.
func NewLocal(store *Store, catalog *Catalog) *Local {
	return &Local{store: store, catalog: catalog, removed: map[types.UID]bool{}}
}

// ErrRepositoryRemoved says a repository was deleted.
var ErrRepositoryRemoved = errors.New("the repository was deleted")

// Store returns the store holding the packages.
func (l *Local) Store() *Store { return l.store }

// Catalog returns the catalog holding the indexes.
func (l *Local) Catalog() *Catalog { return l.catalog }

// Load makes sure the catalog holds the repository's index as the store
// has it now, reading it when it is missing or its directory changed.
func (l *Local) Load(repository types.NamespacedName, uid types.UID) error {
	if l.current(repository, uid) {
		return nil
	}
	defer l.locks.Lock(repository)()
	return l.load(repository, uid)
}

// current says whether the catalog holds what the store holds.
func (l *Local) current(repository types.NamespacedName, uid types.UID) bool {
	state, ok := l.read.Load(repository)
	if !ok || state.(readState).uid != uid || !l.catalog.Has(repository, uid) {
		return false
	}
	revision, err := l.store.Revision(uid)
	return err == nil && revision == state.(readState).revision
}

// load reads the repository unless it is current; its lock is held.
func (l *Local) load(repository types.NamespacedName, uid types.UID) error {
	if l.current(repository, uid) {
		return nil
	}
	if l.isRemoved(uid) {
		return ErrRepositoryRemoved
	}
	return l.reload(repository, uid)
}

func (l *Local) isRemoved(uid types.UID) bool {
	l.removedMu.Lock()
	defer l.removedMu.Unlock()
	return l.removed[uid]
}

// Reload reads a repository's index from the store again.
func (l *Local) Reload(repository types.NamespacedName, uid types.UID) error {
	defer l.locks.Lock(repository)()
	if l.isRemoved(uid) {
		return ErrRepositoryRemoved
	}
	return l.reload(repository, uid)
}

// Remove forgets a deleted repository and deletes its packages; a load or
// write racing with the deletion cannot bring it back.
func (l *Local) Remove(repository types.NamespacedName, uid types.UID) error {
	defer l.locks.Lock(repository)()
	l.removedMu.Lock()
	l.removed[uid] = true
	l.removedMu.Unlock()
	if state, ok := l.read.Load(repository); ok && state.(readState).uid == uid {
		l.read.Delete(repository)
		l.catalog.Remove(repository)
	}
	return l.store.Remove(uid)
}

// reload reads the repository; its lock is held.
func (l *Local) reload(repository types.NamespacedName, uid types.UID) error {
	revision, err := l.store.Revision(uid)
	if err != nil {
		return err
	}
	index, err := l.store.Index(uid)
	if err != nil {
		return err
	}
	l.catalog.SetIndex(repository, uid, index)
	l.read.Store(repository, readState{uid: uid, revision: revision})
	return nil
}

// wrote records the revision of a write of this replica, which the
// catalog has taken in already; the repository's lock is held.
func (l *Local) wrote(repository types.NamespacedName, uid types.UID) {
	if revision, err := l.store.Revision(uid); err == nil {
		l.read.Store(repository, readState{uid: uid, revision: revision})
	}
}

// Upload validates and stores a chart archive in a repository and adds it
// to the repository's index.
func (l *Local) Upload(repository types.NamespacedName, uid types.UID, archive []byte, overwrite bool) (*ChartVersion, error) {
	// Checking the archive is the slow part, and needs no lock.
	loaded, err := LoadArchive(archive, l.store.Limits())
	if err != nil {
		return nil, err
	}
	defer l.locks.Lock(repository)()
	if err := l.load(repository, uid); err != nil {
		return nil, err
	}
	version, err := l.store.Put(uid, archive, loaded, overwrite)
	if err != nil {
		return nil, err
	}
	l.catalog.AddVersion(repository, version)
	l.wrote(repository, uid)
	return version, nil
}

// Delete removes a chart version from a repository and its index.
func (l *Local) Delete(repository types.NamespacedName, uid types.UID, chart, version string) error {
	defer l.locks.Lock(repository)()
	if err := l.load(repository, uid); err != nil {
		return err
	}
	if err := l.store.Delete(uid, chart, version); err != nil {
		return err
	}
	l.catalog.RemoveVersion(repository, chart, version)
	l.wrote(repository, uid)
	return nil
}
