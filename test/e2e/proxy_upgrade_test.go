/*
Copyright The Headlamp Authors.

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

package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// upgrade is the handshake of one streaming protocol kubectl uses for
// exec, attach and port-forward.
type upgrade struct {
	name string
	// header is what the client sends.
	header http.Header
	// want is what the 101 answer must carry.
	want http.Header
}

// upgrades returns a SPDY and a WebSocket handshake.
func upgrades() []upgrade {
	key := base64.StdEncoding.EncodeToString([]byte("e2e-websocket-ky"))
	spdy, ws := http.Header{}, http.Header{}
	spdy.Set("Connection", "Upgrade")
	spdy.Set("Upgrade", "SPDY/3.1")
	spdy.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
	ws.Set("Connection", "Upgrade")
	ws.Set("Upgrade", "websocket")
	ws.Set("Sec-WebSocket-Version", "13")
	ws.Set("Sec-WebSocket-Key", key)
	ws.Set("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
	return []upgrade{
		{name: "SPDY", header: spdy, want: http.Header{"X-Stream-Protocol-Version": {"v4.channel.k8s.io"}}},
		{name: "WebSocket", header: ws, want: http.Header{
			"Sec-Websocket-Protocol": {"v5.channel.k8s.io"},
			"Sec-Websocket-Accept":   {websocketAccept(key)},
		}},
	}
}

// dialUpgrade sends an upgrade request for rawURL over a TLS connection of
// its own, written by hand, and returns the answer and the connection,
// which the test closes when it ends.
func dialUpgrade(t *testing.T, cfg *tls.Config, rawURL string, header http.Header) (*http.Response, *tls.Conn, *bufio.Reader) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"} // upgrades are HTTP/1.1 only
	conn, err := tls.Dial("tcp", u.Host, cfg)
	if err != nil {
		t.Fatalf("dialing %s: %v", u.Host, err)
	}
	t.Cleanup(func() { conn.Close() })
	// Bounds a hung proxy; the test's own deadline may be longer.
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if err := req.Write(conn); err != nil {
		t.Fatalf("writing the upgrade request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading the answer to the upgrade request: %v", err)
	}
	return resp, conn, br
}

// echoRoundTrip sends bytes through an upgraded connection to the
// recorder and checks that they come back.
func echoRoundTrip(t *testing.T, conn io.Writer, br *bufio.Reader) {
	t.Helper()
	payload := make([]byte, 256<<10) // more than any buffer on the way
	rand.Read(payload)
	errc := make(chan error, 1)
	go func() { _, err := conn.Write(payload); errc <- err }()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing through the upgraded connection: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the echo differs from what was sent")
	}
}

// TestProxyUpgrades runs SPDY and WebSocket handshakes through the hub to
// the recorder, checks the 101, that bytes flow both ways, that the member
// got the source credential and the user's identity, and that an upgrade
// needs create on clusters/proxy besides get.
func TestProxyUpgrades(t *testing.T) {
	rec := startRecorder(t)
	getOnly := mustUser(t, "e2e-upgrade-get-only")
	bindClusterRole(t, "e2e-upgrade-get-only", "e2e-upgrade-get-only", proxyRule([]string{"get"}, recorderCluster))
	getCreate := mustUser(t, "e2e-upgrade-get-create", "e2e-streamers")
	bindClusterRole(t, "e2e-upgrade-get-create", "e2e-upgrade-get-create", proxyRule([]string{"get", "create"}, recorderCluster))

	users := []struct {
		name       string
		kubeconfig string
		wantCode   int
		wantUser   []string
		wantGroups []string
	}{
		// system:masters is dropped (--proxy-drop-groups' default).
		{"hub admin", env.HubKubeconfig, http.StatusSwitchingProtocols, []string{"admin"}, nil},
		{"get and create", getCreate, http.StatusSwitchingProtocols, []string{"e2e-upgrade-get-create"}, []string{"e2e-streamers"}},
		{"get only", getOnly, http.StatusForbidden, nil, nil},
	}
	for _, u := range upgrades() {
		for _, user := range users {
			t.Run(u.name+"/"+user.name, func(t *testing.T) {
				cfg := hubTLS(t, user.kubeconfig)
				path := "/stream/" + u.name + "/" + strings.ReplaceAll(user.name, " ", "-")
				resp, conn, br := dialUpgrade(t, cfg, env.HubURL+harness.ProxyPath(recorderCluster, path), u.header)
				if resp.StatusCode != user.wantCode {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
					t.Fatalf("upgrade: %s %s; want %d", resp.Status, body, user.wantCode)
				}
				if user.wantCode != http.StatusSwitchingProtocols {
					if got := rec.requests(path); len(got) != 0 {
						t.Errorf("a refused upgrade reached the member: %+v", got)
					}
					if plain := send(t, cfg, http.MethodGet, env.HubURL+harness.ProxyPath(recorderCluster, path+"/plain"), nil, ""); plain.code != http.StatusOK {
						t.Errorf("plain GET by the same user: %d %s; want 200", plain.code, plain.body)
					}
					return
				}
				for k, want := range u.want {
					if diff := cmp.Diff(want, resp.Header.Values(k)); diff != "" {
						t.Errorf("101 header %s (-want +got):\n%s", k, diff)
					}
				}
				echoRoundTrip(t, conn, br)

				got := rec.request(t, path).header
				for k, want := range map[string][]string{
					"Authorization":     {"Bearer " + recorderToken},
					"Impersonate-User":  user.wantUser,
					"Impersonate-Group": user.wantGroups,
					"Upgrade":           u.header.Values("Upgrade"),
				} {
					if diff := cmp.Diff(want, got.Values(k)); diff != "" {
						t.Errorf("the member got %s (-want +got):\n%s", k, diff)
					}
				}
			})
		}
	}
}
