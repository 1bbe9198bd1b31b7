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
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/client-go/util/keyutil"
)

// Access is one grant of a registry token: the actions allowed on one
// resource (type "repository" with a repository path, or "registry" with
// "catalog").
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Signer issues the bearer tokens the registry accepts: JWTs naming the
// signing key by its JWK thumbprint, which the registry computes for every
// certificate of its rootcertbundle.
type Signer struct {
	signer   jose.Signer
	issuer   string
	audience string
	ttl      time.Duration
}

// TokenClaims are the claims of a registry token.
type TokenClaims struct {
	jwt.Claims
	Access []Access `json:"access"`
}

// NewSigner returns a signer of registry tokens for audience,
// from issuer, valid for ttl, with the PEM private key (ECDSA, RSA or
// Ed25519) it loads from keyFile.
func NewSigner(keyFile, issuer, audience string, ttl time.Duration) (*Signer, error) {
	parsed, err := keyutil.PrivateKeyFromFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("registry token signing key: %w", err)
	}
	var algorithm jose.SignatureAlgorithm
	var public crypto.PublicKey
	switch key := parsed.(type) {
	case *ecdsa.PrivateKey:
		algorithm = map[int]jose.SignatureAlgorithm{256: jose.ES256, 384: jose.ES384, 521: jose.ES512}[key.Curve.Params().BitSize]
		public = key.Public()
	case *rsa.PrivateKey:
		algorithm, public = jose.RS256, key.Public()
	case ed25519.PrivateKey:
		algorithm, public = jose.EdDSA, key.Public()
	}
	if algorithm == "" {
		return nil, fmt.Errorf("registry token signing key %s: unsupported key type %T", keyFile, parsed)
	}
	signingKey := jose.SigningKey{Algorithm: algorithm, Key: jose.JSONWebKey{Key: parsed, KeyID: KeyID(public)}}
	signer, err := jose.NewSigner(signingKey, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Signer{signer: signer, issuer: issuer, audience: audience, ttl: ttl}, nil
}

// Audience is the registry service the tokens are for.
func (s *Signer) Audience() string { return s.audience }

// Sign returns a token granting subject the access given, and when it
// expires.
func (s *Signer) Sign(subject string, access []Access) (string, time.Time, error) {
	now := time.Now()
	expires := now.Add(s.ttl)
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, err
	}
	if access == nil {
		access = []Access{}
	}
	claims := TokenClaims{
		Claims: jwt.Claims{
			Issuer:   s.issuer,
			Subject:  subject,
			Audience: jwt.Audience{s.audience},
			Expiry:   jwt.NewNumericDate(expires),
			// A little leeway for clocks running behind archon's.
			NotBefore: jwt.NewNumericDate(now.Add(-10 * time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(id),
		},
		Access: access,
	}
	token, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	return token, expires, err
}

// KeyID is the identifier the registry gives a trusted public key: the
// SHA-256 JWK thumbprint as distribution computes it, from the key's
// coordinates without padding.
func KeyID(public crypto.PublicKey) string {
	var jwk string
	encode := base64.RawURLEncoding.EncodeToString
	switch key := public.(type) {
	case *ecdsa.PublicKey:
		x, y := ecdsaCoordinates(key)
		jwk = fmt.Sprintf(`{"crv":"%s","kty":"EC","x":"%s","y":"%s"}`, key.Curve.Params().Name, encode(x.Bytes()), encode(y.Bytes()))
	case *rsa.PublicKey:
		jwk = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, encode(big.NewInt(int64(key.E)).Bytes()), encode(key.N.Bytes()))
	case ed25519.PublicKey:
		jwk = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":"%s"}`, encode(key))
	default:
		return ""
	}
	sum := sha256.Sum256([]byte(jwk))
	return encode(sum[:])
}

// ecdsaCoordinates reads the point from its uncompressed encoding rather
// than the deprecated X and Y fields.
func ecdsaCoordinates(key *ecdsa.PublicKey) (x, y *big.Int) {
	point, err := key.Bytes()
	if err != nil || len(point) == 0 {
		return new(big.Int), new(big.Int)
	}
	size := (len(point) - 1) / 2
	return new(big.Int).SetBytes(point[1 : 1+size]), new(big.Int).SetBytes(point[1+size:])
}
