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

package templateapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// SealLabel is the helm release label carrying archon's seal of a
// record: an HMAC, with the requesters' key, of its namespace, name,
// revision, status, manifest, hooks, chart and the labels DesiredLabel and
// RequesterLabel. Whoever may write Secrets in a namespace may write
// helm's records there, and helm creates and deletes objects from them:
// archon's helm reads and writes records only through sealedDriver, so a
// record archon did not write (a forged revision binding its author as
// admin, to roll back to as the requester; a record listing the quota, for
// an upgrade or uninstall to delete) stops the action instead.
const SealLabel = "app.cpaas.io/seal"

// sealedDriver seals every record helm writes, from helm's own release in
// memory, and refuses every record it reads that it did not seal for that
// namespace, name and revision.
type sealedDriver struct {
	driver.Driver
	namespace string
	signer    *Signer
}

// sealedStorage returns helm's storage over inner, sealed.
func sealedStorage(inner driver.Driver, namespace string, signer *Signer) *storage.Storage {
	return storage.Init(&sealedDriver{Driver: inner, namespace: namespace, signer: signer})
}

// UnsealedError says a record of a release was not written by archon.
type UnsealedError struct {
	Name    string
	Version int
	Why     string
}

func (e *UnsealedError) Error() string {
	return fmt.Sprintf("helm's record of revision %d of %s (Secret sh.helm.release.v1.%s.v%d) %s: helm or someone else wrote it, or archon "+
		"stopped in the middle of that action; archon acts only on records it wrote, since helm creates and deletes objects from them "+
		"as the requester. Once you have checked the release, delete that Secret: archon goes on within a minute",
		e.Version, e.Name, e.Name, e.Version, e.Why)
}

func (d *sealedDriver) seal(rls *release.Release) error {
	key, err := d.signer.loadKey(context.Background())
	if err != nil {
		return err
	}
	if rls.Labels == nil {
		rls.Labels = map[string]string{}
	}
	rls.Labels[SealLabel] = seal(key, d.namespace, rls)
	return nil
}

// Create seals and writes a new record.
func (d *sealedDriver) Create(key string, rls *release.Release) error {
	if err := d.seal(rls); err != nil {
		return err
	}
	return d.Driver.Create(key, rls)
}

// Update seals and writes a record again.
func (d *sealedDriver) Update(key string, rls *release.Release) error {
	if err := d.seal(rls); err != nil {
		return err
	}
	return d.Driver.Update(key, rls)
}

// Get reads a record, which must be the one of key, sealed.
func (d *sealedDriver) Get(key string) (*release.Release, error) {
	rls, err := d.Driver.Get(key)
	if err != nil {
		return nil, err
	}
	return rls, d.verify(rls, key, "")
}

// List reads the records filter keeps, each sealed.
func (d *sealedDriver) List(filter func(*release.Release) bool) ([]*release.Release, error) {
	list, err := d.Driver.List(filter)
	if err != nil {
		return nil, err
	}
	for _, rls := range list {
		if err := d.verify(rls, "", ""); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// Query reads the records of labels, each sealed and of the release the
// query names.
func (d *sealedDriver) Query(labels map[string]string) ([]*release.Release, error) {
	list, err := d.Driver.Query(labels)
	if err != nil {
		return nil, err
	}
	for _, rls := range list {
		if err := d.verify(rls, "", labels["name"]); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// verify refuses a record that is malformed, not archon's seal of itself,
// not of key (when given) or not of the release name (when given).
func (d *sealedDriver) verify(rls *release.Release, key, name string) error {
	unsealed := &UnsealedError{Name: name, Why: "is not sealed by archon"}
	if rls != nil {
		unsealed.Name, unsealed.Version = rls.Name, rls.Version
	}
	if rls == nil || rls.Info == nil || rls.Chart == nil || rls.Chart.Metadata == nil {
		unsealed.Why = "cannot be read"
		return unsealed
	}
	for _, hook := range rls.Hooks {
		if hook == nil {
			unsealed.Why = "cannot be read"
			return unsealed
		}
	}
	if (key != "" && key != fmt.Sprintf("sh.helm.release.v1.%s.v%d", rls.Name, rls.Version)) || (name != "" && rls.Name != name) {
		unsealed.Why = "is stored under another name"
		return unsealed
	}
	secret, err := d.signer.loadKey(context.Background())
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(rls.Labels[SealLabel]), []byte(seal(secret, d.namespace, rls))) {
		return unsealed
	}
	return nil
}

// seal is the HMAC of what a record says, in hexadecimal (a label value
// starts and ends with a letter or digit). The values are left out: helm
// never applies them from a record, and their numbers do not survive
// helm's JSON exactly.
func seal(key []byte, namespace string, rls *release.Release) string {
	hooks, _ := json.Marshal(rls.Hooks)
	data, _ := json.Marshal(struct {
		Namespace    string `json:"namespace"`
		Name         string `json:"name"`
		Version      int    `json:"version"`
		Status       string `json:"status"`
		Manifest     string `json:"manifest"`
		Hooks        string `json:"hooks"`
		Chart        string `json:"chart"`
		ChartVersion string `json:"chartVersion"`
		Desired      string `json:"desired"`
		Requester    string `json:"requester"`
	}{namespace, rls.Name, rls.Version, string(rls.Info.Status), rls.Manifest, string(hooks), rls.Chart.Metadata.Name,
		rls.Chart.Metadata.Version, rls.Labels[DesiredLabel], rls.Labels[RequesterLabel]})
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("release\x00"))
	mac.Write(data)
	return hex.EncodeToString(mac.Sum(nil)[:20])
}

// AsUnsealed finds an UnsealedError in err.
func AsUnsealed(err error) (*UnsealedError, bool) {
	var unsealed *UnsealedError
	ok := errors.As(err, &unsealed)
	return unsealed, ok
}
