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

// Package egress guards the connections archon opens to addresses its
// users choose (chart repositories): never to loopback, link-local,
// private, shared or cluster addresses, where archon's own network
// position would reach what the user cannot (the cloud metadata service,
// etcd, kubelets, other tenants' services), unless an operator allows
// the address. The check runs on every connection, after name resolution,
// so redirects and names that resolve to internal addresses are caught.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Policy says which addresses archon may connect to for its users.
type Policy struct {
	allowedPrefixes []netip.Prefix
	allowedAddrs    map[netip.AddrPort]bool
}

// New returns a policy that refuses internal addresses except those in
// allowed: CIDRs ("10.1.0.0/16", "127.0.0.1/32") or addresses with a port
// ("127.0.0.1:5000", the platform registry).
func New(allowed []string) (*Policy, error) {
	p := &Policy{allowedAddrs: map[netip.AddrPort]bool{}}
	for _, entry := range allowed {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if prefix, err := netip.ParsePrefix(entry); err == nil {
			p.allowedPrefixes = append(p.allowedPrefixes, prefix.Masked())
			continue
		}
		addr, err := netip.ParseAddrPort(entry)
		if err != nil {
			return nil, fmt.Errorf("allowed address %q: want a CIDR (10.0.0.0/8) or an IP address and port (127.0.0.1:5000)", entry)
		}
		p.allowedAddrs[netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())] = true
	}
	return p, nil
}

// internal are the ranges no user-chosen connection may reach unless
// allowed, besides those netip classifies (loopback, private, link-local,
// multicast, unspecified).
var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space, some clusters' pods
	netip.MustParsePrefix("192.0.0.0/24"),   // protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 of IPv4, internal ones included
	netip.MustParsePrefix("64:ff9b:1::/48"), // local NAT64
	netip.MustParsePrefix("2002::/16"),      // 6to4 of IPv4
	netip.MustParsePrefix("fec0::/10"),      // site-local, deprecated but routed by some
}

// Check returns nil when the policy lets archon connect to addr, and
// otherwise an error that names the address and the kind of it, nothing
// the address would have answered.
func (p *Policy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().Unmap()
	addr = netip.AddrPortFrom(ip, addr.Port())
	if p.allowedAddrs[addr] {
		return nil
	}
	for _, prefix := range p.allowedPrefixes {
		if prefix.Contains(ip) {
			return nil
		}
	}
	kind := ""
	switch {
	case ip.IsLoopback():
		kind = "loopback"
	case ip.IsPrivate():
		kind = "private"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		kind = "link-local"
	case ip.IsUnspecified():
		kind = "unspecified"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		kind = "multicast"
	}
	for _, prefix := range internal {
		if kind == "" && prefix.Contains(ip) {
			kind = "reserved"
		}
	}
	if kind == "" {
		return nil
	}
	return &RefusedError{Address: addr.String(), Kind: kind}
}

// RefusedError says a connection was refused by the policy.
type RefusedError struct {
	Address, Kind string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s is a %s address: archon does not connect to loopback, link-local, private or cluster addresses for its users (an administrator may allow it with --chart-repo-allowed-addresses)", e.Address, e.Kind)
}

// DialContext dials like net.Dialer, refusing addresses the policy does
// not allow, after resolution and for each address tried.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	dialer := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			addr, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialing %q: %w", address, err)
			}
			return p.Check(addr)
		},
	}
	return dialer.DialContext(ctx, network, address)
}

// Transport returns an HTTP transport that dials through the policy and
// ignores proxies from the environment, through which a connection would
// reach what the policy refuses without archon dialing it.
func (p *Policy) Transport() *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.DialContext = p.DialContext
	return transport
}

// HTTPSOnly wraps a round tripper that carries credentials so that it
// refuses plain HTTP, the first request and every redirect alike: the
// credentials would cross the network readable.
func HTTPSOnly(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Scheme != "https" {
			return nil, fmt.Errorf("%s://%s: credentials are sent over https only", req.URL.Scheme, req.URL.Host)
		}
		return rt.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// ErrResponseTooLarge says a server sent more than a fetch reads.
var ErrResponseTooLarge = errors.New("the server sent more than archon reads")

// LimitResponses wraps a round tripper so that each response body yields
// at most perResponse bytes and all of them together at most total, then
// fails with ErrResponseTooLarge: a server chosen by a user cannot make
// archon read without end, one large answer or endless pages of small
// ones.
func LimitResponses(rt http.RoundTripper, perResponse, total int64) http.RoundTripper {
	left := &atomic.Int64{}
	left.Store(total)
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if left.Load() <= 0 {
			return nil, ErrResponseTooLarge
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		resp.Body = &limitedBody{ReadCloser: resp.Body, left: perResponse, total: left}
		return resp, nil
	})
}

// limitedBody is a response body read within LimitResponses' bounds.
type limitedBody struct {
	io.ReadCloser
	left  int64
	total *atomic.Int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 || b.total.Load() <= 0 {
		return 0, ErrResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	b.total.Add(-int64(n))
	return n, err
}
