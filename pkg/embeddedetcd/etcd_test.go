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

package embeddedetcd

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestStartMovesOffATakenPort hands Start a port another process bound
// after it was found free, as happens when the two race.
func TestStartMovesOffATakenPort(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	taken := &url.URL{Scheme: "http", Host: other.Addr().String()}
	picks := 0
	pickURL = func() (*url.URL, error) {
		picks++
		if picks == 1 {
			return taken, nil
		}
		return freeLoopbackURL()
	}
	t.Cleanup(func() { pickURL = freeLoopbackURL })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	if server.ClientURL == taken.String() {
		t.Fatalf("etcd reports %s, which another process holds", taken)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server.ClientURL+"/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("asking the member at %s for its health: %v", server.ClientURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("member at %s: health %s", server.ClientURL, resp.Status)
	}
}
