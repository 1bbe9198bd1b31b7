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

package containerregistry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func writeKey(t *testing.T) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, key
}

func TestSignedTokensCarryTheGrantsForTheRegistry(t *testing.T) {
	path, key := writeKey(t)
	signer, err := NewSigner(path, "archon", "archon-registry", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	access := []Access{{Type: "repository", Name: "team-a/app", Actions: []string{"pull", "push"}}}
	raw, expires, err := signer.Sign("alice", access)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(expires); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("expires in %v, want 5m", d)
	}
	token, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	// The registry finds the key by the kid it computes from its trusted certificates.
	if kid := token.Headers[0].KeyID; kid != KeyID(key.Public()) {
		t.Errorf("kid %q, want %q", kid, KeyID(key.Public()))
	}
	var claims TokenClaims
	if err := token.Claims(key.Public(), &claims); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: "archon", AnyAudience: jwt.Audience{"archon-registry"}, Subject: "alice"}); err != nil {
		t.Error(err)
	}
	if len(claims.Access) != 1 || claims.Access[0].Name != "team-a/app" || len(claims.Access[0].Actions) != 2 {
		t.Errorf("access %+v", claims.Access)
	}
}

// KeyID is the RFC 7638 thumbprint whenever the coordinates have no
// leading zero byte (where distribution, and so KeyID, leave padding out).
func TestKeyIDIsTheJWKThumbprint(t *testing.T) {
	for i := 0; i < 20; i++ {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		x, y := ecdsaCoordinates(&key.PublicKey)
		if len(x.Bytes()) != 32 || len(y.Bytes()) != 32 {
			continue
		}
		thumbprint, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if want := base64.RawURLEncoding.EncodeToString(thumbprint); KeyID(key.Public()) != want {
			t.Fatalf("KeyID %q, thumbprint %q", KeyID(key.Public()), want)
		}
	}
}

func TestSignerRefusesKeysItCannotUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.key")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(path, "archon", "archon-registry", time.Minute); err == nil {
		t.Error("a file without a key was accepted")
	}
}
