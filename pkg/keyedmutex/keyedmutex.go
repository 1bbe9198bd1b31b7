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

// Package keyedmutex is a mutex per key: writes of one key (a repository,
// a namespace) wait for each other, writes of others do not.
package keyedmutex

import "sync"

// Mutex is a mutex per key; the zero value is ready. Keys' mutexes are
// kept, one small struct each: use it for keys of bounded number.
type Mutex[K comparable] struct {
	mu    sync.Mutex
	locks map[K]*sync.Mutex
}

// Lock locks key's mutex and returns its unlock.
func (k *Mutex[K]) Lock(key K) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[K]*sync.Mutex{}
	}
	m, ok := k.locks[key]
	if !ok {
		m = &sync.Mutex{}
		k.locks[key] = m
	}
	k.mu.Unlock()
	m.Lock()
	return m.Unlock
}
