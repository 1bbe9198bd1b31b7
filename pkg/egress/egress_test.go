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

package egress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyRefusesInternalAddresses(t *testing.T) {
	policy, err := New([]string{"127.0.0.1:5000", "10.20.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, allowed := range map[string]bool{
		"93.184.215.14:443":           true,
		"[2606:2800:21f:cb07::1]:443": true,
		"127.0.0.1:5000":              true, // allowed exactly
		"127.0.0.1:5001":              false,
		"127.1.2.3:443":               false,
		"[::1]:443":                   false,
		"[::ffff:127.0.0.1]:5001":     false, // IPv4 in IPv6 clothing
		"[::ffff:127.0.0.1]:5000":     true,
		"10.20.3.4:80":                true, // allowed range
		"10.21.3.4:80":                false,
		"172.16.0.1:443":              false,
		"192.168.1.1:443":             false,
		"169.254.169.254:80":          false, // cloud metadata
		"[fe80::1]:443":               false,
		"[fd00::1]:443":               false,
		"100.64.0.1:443":              false,
		"0.0.0.0:443":                 false,
		"[::]:443":                    false,
		"224.0.0.1:443":               false,
		"[64:ff9b::7f00:1]:443":       false,
	} {
		err := policy.Check(netip.MustParseAddrPort(addr))
		if got := err == nil; got != allowed {
			t.Errorf("%s: allowed %v (%v), want %v", addr, got, err, allowed)
		}
	}
	if _, err := New([]string{"not-an-address"}); err == nil {
		t.Error("a malformed allowed address was accepted")
	}
}

// Connections are checked after resolution and on every redirect; the
// refusal names the address and echoes nothing it answered.
func TestTransportChecksEveryConnection(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secret internal answer"))
	}))
	defer internal.Close()
	policy, _ := New(nil)
	client := &http.Client{Transport: policy.Transport()}
	for _, url := range []string{internal.URL, strings.Replace(internal.URL, "127.0.0.1", "localhost", 1)} {
		_, err := client.Get(url)
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Kind != "loopback" || strings.Contains(err.Error(), "secret") {
			t.Errorf("GET %s: %v, want refused as loopback", url, err)
		}
	}

	// An allowed server redirecting to an internal one.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/index.yaml", http.StatusFound)
	}))
	defer redirector.Close()
	allowRedirector, _ := New([]string{strings.TrimPrefix(redirector.URL, "http://")})
	client = &http.Client{Transport: allowRedirector.Transport()}
	if _, err := client.Get(redirector.URL); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a redirect to an internal address: %v, want refused", err)
	}

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, redirector.URL, nil)
	if _, err := (&http.Client{Transport: HTTPSOnly(allowRedirector.Transport())}).Do(req); err == nil || !strings.Contains(err.Error(), "https only") {
		t.Errorf("credentials over http: %v, want refused", err)
	}
}

// A server cannot make archon read without end: one large answer, or many
// small ones.
func TestLimitResponses(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 1000))
	}))
	defer server.Close()
	client := &http.Client{Transport: LimitResponses(http.DefaultTransport, 600, 1500)}
	read := func() error {
		resp, err := client.Get(server.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	if err := read(); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("a 1000-byte answer read within 600: %v", err)
	}
	client = &http.Client{Transport: LimitResponses(http.DefaultTransport, 1000, 2500)}
	errs := []error{read(), read(), read(), read()}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrResponseTooLarge) || !errors.Is(errs[3], ErrResponseTooLarge) {
		t.Errorf("four answers of 1000 bytes within 2500 in all: %v", errs)
	}
}
