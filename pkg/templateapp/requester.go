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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	restclient "k8s.io/client-go/rest"
)

// Requester is the user archon acts as for a template application. Its
// extras are left out: they describe the credential rather than grant
// anything, and impersonating them needs a permission per key.
type Requester struct {
	Username string   `json:"username"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// RequesterFrom is the requester of a request by u.
func RequesterFrom(u user.Info) Requester {
	groups := append([]string(nil), u.GetGroups()...)
	sort.Strings(groups)
	return Requester{Username: u.GetName(), UID: u.GetUID(), Groups: groups}
}

// archonServiceAccounts prefixes the ServiceAccounts of archon's
// namespace, archon's own among them.
const archonServiceAccounts = "system:serviceaccount:archon-system:"

// IsArchon says whether the requester is archon itself (or another
// ServiceAccount of its namespace): archon never acts for a user with its
// own rights, so it is never a requester.
func (r Requester) IsArchon() bool { return strings.HasPrefix(r.Username, archonServiceAccounts) }

// Hash identifies the requester in helm release labels.
func (r Requester) Hash() string {
	data, _ := json.Marshal(r)
	return hash(string(data))
}

// Impersonating returns base acting as the requester.
func (r Requester) Impersonating(base *restclient.Config) *restclient.Config {
	config := restclient.CopyConfig(base)
	config.Impersonate = restclient.ImpersonationConfig{UserName: r.Username, UID: r.UID, Groups: r.Groups}
	return config
}

// ErrNoRequester says an application carries no requester archon could
// act as.
var ErrNoRequester = errors.New("no requester is recorded")

// signedRequester is the requester annotation: the requester and archon's
// signature of it for one application.
type signedRequester struct {
	Requester
	Signature string `json:"signature"`
}

// KeySecret is the Secret, in archon's namespace, holding the key archon
// signs requesters with: a requester archon did not sign for the
// application is not acted as, whoever wrote it and however the webhook
// is configured.
const KeySecret = "archon-template-application-requesters"

// keyBytes is the length of the signing key.
const keyBytes = 32

// Signer signs the requester of an application and verifies a signature,
// with a key it reads from (or, the first time, writes to) KeySecret.
type Signer struct {
	secrets corev1client.SecretInterface
	mu      sync.Mutex
	key     []byte
}

// NewSigner returns a signer keeping its key among secrets (archon's
// namespace).
func NewSigner(secrets corev1client.SecretInterface) *Signer { return &Signer{secrets: secrets} }

// NewSignerWithKey returns a signer with key, for tests.
func NewSignerWithKey(key []byte) *Signer { return &Signer{key: key} }

// loadKey reads the key, making it if no replica has yet.
func (s *Signer) loadKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	secret, err := s.secrets.Get(ctx, KeySecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		key := make([]byte, keyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		secret, err = s.secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: KeySecret},
			Data: map[string][]byte{"key": key}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			secret, err = s.secrets.Get(ctx, KeySecret, metav1.GetOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the key requesters are signed with (Secret %s): %w", KeySecret, err)
	}
	key := secret.Data["key"]
	if len(key) < keyBytes {
		return nil, fmt.Errorf("Secret %s holds a key of %d bytes; at least %d are needed", KeySecret, len(key), keyBytes)
	}
	s.key = key
	return key, nil
}

// Sign returns the requester annotation of the application namespace/name.
func (s *Signer) Sign(ctx context.Context, namespace, name string, r Requester) (string, error) {
	key, err := s.loadKey(ctx)
	if err != nil {
		return "", err
	}
	data, err := json.Marshal(signedRequester{Requester: r, Signature: signature(key, namespace, name, r)})
	return string(data), err
}

// Verify reads the requester of an application from its annotation,
// refusing one archon did not sign for it.
func (s *Signer) Verify(ctx context.Context, obj metav1.Object) (Requester, error) {
	raw, ok := obj.GetAnnotations()[RequesterAnnotation]
	if !ok {
		return Requester{}, ErrNoRequester
	}
	var signed signedRequester
	if err := json.Unmarshal([]byte(raw), &signed); err != nil || signed.Username == "" {
		return Requester{}, fmt.Errorf("annotation %s does not name a user: %w", RequesterAnnotation, ErrNoRequester)
	}
	key, err := s.loadKey(ctx)
	if err != nil {
		return Requester{}, err
	}
	want := signature(key, obj.GetNamespace(), obj.GetName(), signed.Requester)
	if !hmac.Equal([]byte(want), []byte(signed.Signature)) {
		return Requester{}, fmt.Errorf("annotation %s was not written by archon for this application: %w", RequesterAnnotation, ErrNoRequester)
	}
	if signed.IsArchon() {
		return Requester{}, fmt.Errorf("annotation %s names archon itself, which acts for users only with their rights: %w", RequesterAnnotation, ErrNoRequester)
	}
	return signed.Requester, nil
}

// signature is the HMAC of the requester of namespace/name.
func signature(key []byte, namespace, name string, r Requester) string {
	data, _ := json.Marshal(struct {
		Namespace string    `json:"namespace"`
		Name      string    `json:"name"`
		Requester Requester `json:"requester"`
	}{namespace, name, r})
	mac := hmac.New(sha256.New, key)
	mac.Write(data)
	return base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
}
