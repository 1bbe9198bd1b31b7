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
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Local keeps the catalogue's view of Local repositories in step with the
// store: loading a repository, uploading to it and deleting from it are
// serialised, so that a load reading the disk cannot pass over an upload.
type Local struct {
	store   *Store
	catalog *Catalog
	mu      sync.Mutex
}

// NewLocal serves Local repositories from store into catalog.
func NewLocal(store *Store, catalog *Catalog) *Local { return &Local{store: store, catalog: catalog} }

// Store is where the packages are.
func (l *Local) Store() *Store { return l.store }

// Catalog is where the indexes are.
func (l *Local) Catalog() *Catalog { return l.catalog }

// Load reads a repository's index from the store unless the catalogue
// holds it already.
func (l *Local) Load(repository types.NamespacedName, uid types.UID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.load(repository, uid)
}

func (l *Local) load(repository types.NamespacedName, uid types.UID) error {
	if l.catalog.Has(repository, uid) {
		return nil
	}
	index, err := l.store.Index(uid)
	if err != nil {
		return err
	}
	l.catalog.SetIndex(repository, uid, index)
	return nil
}

// Reload reads a repository's index from the store again, for uploads
// other replicas sharing the store made.
func (l *Local) Reload(repository types.NamespacedName, uid types.UID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	index, err := l.store.Index(uid)
	if err != nil {
		return err
	}
	l.catalog.SetIndex(repository, uid, index)
	return nil
}

// Upload validates and stores a chart archive in a repository and adds it
// to the repository's index.
func (l *Local) Upload(repository types.NamespacedName, uid types.UID, archive []byte, overwrite bool) (*ChartVersion, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.load(repository, uid); err != nil {
		return nil, err
	}
	version, err := l.store.Put(uid, archive, overwrite)
	if err != nil {
		return nil, err
	}
	l.catalog.AddVersion(repository, version)
	return version, nil
}

// Delete removes a chart version from a repository and its index.
func (l *Local) Delete(repository types.NamespacedName, uid types.UID, chart, version string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.load(repository, uid); err != nil {
		return err
	}
	if err := l.store.Delete(uid, chart, version); err != nil {
		return err
	}
	l.catalog.RemoveVersion(repository, chart, version)
	return nil
}
