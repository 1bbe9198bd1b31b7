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

package localplane

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// port is a TCP port on 127.0.0.1 that belongs to one component. The plane
// holds a listener on it whenever the component does not, from the moment
// the layout is computed until just before the component starts, and again
// after the component stops: a port found free and then closed would be
// free for any other process to take (outgoing connections take ports from
// the same range) until the component binds it.
type port struct {
	number int
	// held is the plane's listener; nil while the component has the port.
	held net.Listener
}

// reservePort holds a port the kernel picks.
func reservePort() (*port, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("finding a free port on 127.0.0.1: %w", err)
	}
	return &port{number: listener.Addr().(*net.TCPAddr).Port, held: listener}, nil
}

// hostPort is the port's address, 127.0.0.1:<port>.
func (p *port) hostPort() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.number))
}

// handOver lets go of the port just before its component binds it.
func (p *port) handOver() {
	if p.held != nil {
		p.held.Close()
		p.held = nil
	}
}

// takeBack holds the port again once its component has stopped; it
// waits for a short while if another process has the port meanwhile, such
// as an outgoing connection that happened to get it as its local port.
func (p *port) takeBack(ctx context.Context) error {
	if p.held != nil {
		return nil
	}
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		listener, err := net.Listen("tcp", p.hostPort())
		if err != nil {
			lastErr = err
			return false, nil
		}
		p.held = listener
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("another process holds %s, which the running components were told about (%w): stop the local control plane and start it again", p.hostPort(), lastErr)
	}
	return nil
}

// moveTo holds a new port instead, for a component that lost its port
// before anything else was told about it.
func (p *port) moveTo() error {
	fresh, err := reservePort()
	if err != nil {
		return err
	}
	p.handOver()
	*p = *fresh
	return nil
}

// release lets go of the port for good, when the plane stops.
func (p *port) release() {
	if p != nil {
		p.handOver()
	}
}
