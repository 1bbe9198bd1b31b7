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
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func canListen(p *port) bool {
	listener, err := net.Listen("tcp", p.hostPort())
	if err != nil {
		return false
	}
	listener.Close()
	return true
}

func TestPortIsHeldUntilHandedOver(t *testing.T) {
	p, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	defer p.release()
	if canListen(p) {
		t.Fatalf("another listener bound %s while the plane held it", p.hostPort())
	}
	p.handOver()
	if !canListen(p) {
		t.Fatalf("%s is still held after handOver", p.hostPort())
	}
	if err := p.takeBack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if canListen(p) {
		t.Fatalf("another listener bound %s after takeBack", p.hostPort())
	}
}

// testPlane is a plane with nothing running, for the process handling.
func testPlane(t *testing.T) *Plane {
	dir := t.TempDir()
	return &Plane{opts: Options{Log: io.Discard}, layout: &layout{dir: dir}, exited: make(chan struct{})}
}

// serveEnv makes the test binary a server on the address it names, so
// that tests have a real process that binds a port; it answers "server" to
// every connection.
const serveEnv = "LOCALPLANE_TEST_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		listener, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for {
			conn, err := listener.Accept()
			if err != nil {
				os.Exit(1)
			}
			fmt.Fprintln(conn, "server")
			conn.Close()
		}
	}
	os.Exit(m.Run())
}

func TestServerThatLostItsPortStartsOnAFreshOne(t *testing.T) {
	p := testPlane(t)
	port, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	defer port.release()
	// Another process binds the port the moment the plane lets go of it.
	first := port.hostPort()
	port.handOver()
	other, err := net.Listen("tcp", first)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	proc, err := p.startOn(context.Background(), port, true, "the server", func() (*process, error) {
		return startProcess("server", os.Args[0], filepath.Join(p.layout.dir, "server.log"), []string{serveEnv + "=" + port.hostPort()})
	}, func(ctx context.Context) (bool, error) {
		// The other process accepts connections too, but never answers.
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", port.hostPort())
		if err != nil {
			return false, nil
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		answer, _ := bufio.NewReader(conn).ReadString('\n')
		return answer == "server\n", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.stop(time.Second)
	if port.hostPort() == first {
		t.Fatalf("the server still has %s, which another process holds", first)
	}
}

func TestServerThatFailsOtherwiseIsNotRestarted(t *testing.T) {
	p := testPlane(t)
	port, err := reservePort()
	if err != nil {
		t.Fatal(err)
	}
	defer port.release()
	starts := 0
	_, err = p.startOn(context.Background(), port, true, "the server", func() (*process, error) {
		starts++
		return startProcess("server", "/bin/sh", filepath.Join(p.layout.dir, "server.log"), nil, "-c", "echo 'bad flag'; exit 1")
	}, func(context.Context) (bool, error) { return false, nil })
	if err == nil || starts != 1 {
		t.Fatalf("started %d times, error %v; want one start and its error", starts, err)
	}
}

func TestExitedClosesOnlyWhenAComponentEndsByItself(t *testing.T) {
	p := testPlane(t)
	stopped, err := startProcess("stopped", "/bin/sleep", filepath.Join(p.layout.dir, "stopped.log"), nil, "60")
	if err != nil {
		t.Fatal(err)
	}
	p.watchProcess(stopped)
	stopped.stop(time.Second)

	crashing, err := startProcess("crashing", "/bin/sh", filepath.Join(p.layout.dir, "crashing.log"), nil, "-c", "read line")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
		t.Fatal("Exited closed after a component was stopped on purpose")
	default:
	}
	p.watchProcess(crashing)
	_ = crashing.cmd.Process.Kill()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited not closed after a component ended by itself")
	}
}
