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

// Package embeddedetcd runs a single-member etcd inside the calling process,
// listening on 127.0.0.1 only. It is archon's default storage when no
// external etcd is configured, and backs kube-apiserver in the local control
// plane.
package embeddedetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startTimeout bounds how long a start may take; a healthy member is ready in
// well under a second.
const startTimeout = time.Minute

// bindAttempts bounds how often a start is tried again with fresh ports:
// etcd binds its ports itself, so another process can take one between the
// moment it is found free and the moment etcd binds it.
const bindAttempts = 5

// Server is a running embedded etcd member.
type Server struct {
	etcd *embed.Etcd
	// ClientURL is where clients reach the member, e.g. http://127.0.0.1:40123.
	ClientURL string
}

// Start runs a member that keeps its data in dir, so data survives restarts.
func Start(ctx context.Context, dir string) (*Server, error) {
	for attempt := 1; ; attempt++ {
		server, err := start(ctx, dir)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || attempt == bindAttempts {
			return server, err
		}
	}
}

func start(ctx context.Context, dir string) (*Server, error) {
	clientURL, err := pickURL()
	if err != nil {
		return nil, err
	}
	peerURL, err := pickURL()
	if err != nil {
		return nil, err
	}

	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "archon"
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Every shutdown logs closed listeners at error level; failures that
	// matter reach the caller as failed requests.
	cfg.LogLevel = "fatal"
	// The metrics endpoint of the member would be a third listener nobody reads.
	cfg.ListenMetricsUrls = nil

	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-etcd.Server.ReadyNotify():
		return &Server{etcd: etcd, ClientURL: clientURL.String()}, nil
	case err := <-etcd.Err():
		etcd.Close()
		return nil, fmt.Errorf("embedded etcd in %s failed: %w", dir, err)
	case <-time.After(startTimeout):
		etcd.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready after %s", dir, startTimeout)
	case <-ctx.Done():
		etcd.Close()
		return nil, ctx.Err()
	}
}

// Stop shuts the member down and waits until its data is flushed.
func (s *Server) Stop() {
	s.etcd.Close()
}

// Done is closed once the member has stopped, after Stop or by itself.
func (s *Server) Done() <-chan struct{} {
	return s.etcd.Server.StopNotify()
}

// pickURL is freeLoopbackURL; tests replace it to hand out a taken port.
var pickURL = freeLoopbackURL

// freeLoopbackURL returns the URL of a port on 127.0.0.1 that is free now;
// Start tries again if it is taken by the time etcd binds it.
func freeLoopbackURL() (*url.URL, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port: %w", err)
	}
	defer listener.Close()
	return &url.URL{Scheme: "http", Host: listener.Addr().String()}, nil
}
