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

package member

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		reason string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, clusters.ReasonUnreachable},
		{fmt.Errorf("tls: failed to verify certificate: x509: certificate signed by unknown authority"), clusters.ReasonTLSError},
		{fmt.Errorf("getting credentials: exec: executable plugin failed with exit code 1"), clusters.ReasonCredentialError},
		{fmt.Errorf("net/http: HTTP/1.x transport connection broken: malformed HTTP response"), clusters.ReasonBadGateway},
		{fmt.Errorf("Get \"https://m\": %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'H', 'T', 'T', 'P', '/'}}), clusters.ReasonBadGateway},
		{fmt.Errorf("Get \"https://m\": %w", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{0x15, 3, 1, 0, 2}}), clusters.ReasonTLSError},
	}
	for _, tc := range tests {
		if got, _ := Classify(tc.err); got != tc.reason {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.reason)
		}
	}
}

// TestClassifyDropsEphemeralPorts: two failures that differ only in the
// local port of their connection give the same message, so a member that
// keeps failing does not change its condition, and notify its watchers,
// at every check.
func TestClassifyDropsEphemeralPorts(t *testing.T) {
	t.Parallel()
	failure := func(local int) error {
		return fmt.Errorf("Get \"https://127.0.0.1:6443/readyz\": %w", &net.OpError{
			Op: "read", Net: "tcp",
			Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: local},
			Addr:   &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6443},
			Err:    errors.New("read: connection reset by peer"),
		})
	}
	_, first := Classify(failure(51234))
	_, second := Classify(failure(40001))
	if first != second {
		t.Errorf("messages differ by the local port:\n%s\n%s", first, second)
	}
	if want := "read tcp 127.0.0.1:6443: read: connection reset by peer"; !strings.Contains(first, want) {
		t.Errorf("message %q lacks %q", first, want)
	}
}

func TestExplainCredentialErrors(t *testing.T) {
	t.Parallel()
	via := `access provider "sr" (plugin sr-plugin)`
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("getting credentials: %w", pluginErrorf("exec plugin: failed parsing client key/certificate: tls: failed to find any PEM data")), "failed parsing"},
		{errors.New("getting credentials: exec: executable /bin/plugin failed with exit code 1"), "exit code 1"},
	}
	for _, tc := range tests {
		reason, msg := Explain(tc.err, via)
		if reason != clusters.ReasonCredentialError || !strings.Contains(msg, tc.want) || !strings.Contains(msg, via) {
			t.Errorf("Explain(%q) = %s, %q; want CredentialError naming %q and %q", tc.err, reason, msg, tc.want, via)
		}
	}
}

func TestTransportsReuseAndRebuild(t *testing.T) {
	t.Parallel()
	built := map[string]int{}
	tr := NewTransports(Options{Timeouts: Timeouts{Dial: 1, TLSHandshake: 1, ResponseHeader: 1}, Built: func(c string) { built[c]++ }})
	access := func(hash string) inventory.Access {
		return inventory.Access{Config: &rest.Config{Host: "https://a", BearerToken: "t"}, Hash: hash, Impersonate: true}
	}
	first, err := tr.Get("a", access("h1"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := tr.Get("a", access("h1"))
	if first != again || built["a"] != 1 {
		t.Errorf("same access: built %d transports, reused=%v; want 1, true", built["a"], first == again)
	}
	changed, _ := tr.Get("a", access("h2"))
	if changed == first || built["a"] != 2 {
		t.Errorf("changed access: built %d, rebuilt=%v; want 2, true", built["a"], changed != first)
	}
	tr.Prune(func(string, *Transport) bool { return false })
	if _, _ = tr.Get("a", access("h2")); built["a"] != 3 {
		t.Errorf("after prune: built %d, want 3", built["a"])
	}
	if _, err := tr.Get("b", inventory.Access{Hash: "x"}); err == nil {
		t.Errorf("a member without access configuration got a transport")
	}
}

// countingServer starts a TLS server that answers "ok" and counts its open
// connections; it returns the server, the count and its CA in PEM.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32, []byte) {
	t.Helper()
	open := &atomic.Int32{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		switch state {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, open, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// get sends GET url through rt and reads the whole answer.
func get(t *testing.T, rt http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}

// waitClosed waits up to d until no connection is open and, if given, done
// holds; it returns the connections still open.
func waitClosed(open *atomic.Int32, d time.Duration, done func() bool) int32 {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && (open.Load() != 0 || (done != nil && !done())) {
		time.Sleep(50 * time.Millisecond)
	}
	return open.Load()
}

// TestProbesHoldNoConnection: a health check's connection closes soon
// after the check, while the proxy's stays open for reuse, so checks keep
// no connection to every member open.
func TestProbesHoldNoConnection(t *testing.T) {
	t.Parallel()
	srv, open, ca := countingServer(t)
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	tr, err := trs.Get("a", inventory.Access{Config: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, Hash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	get(t, tr.ProbeRoundTripper, srv.URL)
	get(t, tr.ProbeRoundTripper, srv.URL)
	if got := open.Load(); got != 1 {
		t.Errorf("two checks in a row used %d connections, want 1 shared", got)
	}
	if got := waitClosed(open, probeIdleConnTimeout+5*time.Second, nil); got != 0 {
		t.Errorf("%d connections open %s after a check, want none", got, probeIdleConnTimeout+5*time.Second)
	}
	get(t, tr.RoundTripper, srv.URL)
	time.Sleep(probeIdleConnTimeout + time.Second)
	if got := open.Load(); got != 1 {
		t.Errorf("the proxy's connection: %d open after %s idle, want 1 kept for reuse", got, probeIdleConnTimeout+time.Second)
	}
	trs.Prune(func(string, *Transport) bool { return false })
	if got := waitClosed(open, 5*time.Second, nil); got != 0 {
		t.Errorf("%d connections open after the transport was dropped, want none", got)
	}
}

// TestProbesUseHTTP1 checks that health checks speak HTTP/1.1 to a member
// that offers HTTP/2, while the proxy's requests use HTTP/2: a closed
// HTTP/2 client connection stays in memory for the read-idle timeout,
// which checks of thousands of members would multiply.
func TestProbesUseHTTP1(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	tr, err := trs.Get("a", inventory.Access{Config: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}, Hash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	for _, tc := range []struct {
		name  string
		rt    http.RoundTripper
		major int
	}{{"health check", tr.ProbeRoundTripper, 1}, {"proxy", tr.RoundTripper, 2}} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, http.NoBody)
		resp, err := tc.rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.ProtoMajor != tc.major {
			t.Errorf("%s: %s, want HTTP/%d", tc.name, resp.Proto, tc.major)
		}
	}

	// A member that needs no TLS settings of its own (here plain HTTP;
	// as well an https server the system trusts, with a token) has no TLS
	// configuration to start from.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(plain.Close)
	tmp, err := trs.Temporary("b", inventory.Access{Config: &rest.Config{Host: plain.URL, BearerToken: "t"}, Hash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	get(t, tmp.ProbeRoundTripper, plain.URL)
}

func TestFollowDropsTransportsOfRemovedClusters(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	member := func(host string) []inventory.Member {
		return []inventory.Member{{Name: "a", Origin: "o", Access: inventory.Access{Config: &rest.Config{Host: host}, Hash: host}}}
	}
	inv.Replace("src", member("https://one"))
	built := 0
	tr := NewTransports(Options{Timeouts: Timeouts{Dial: 1, TLSHandshake: 1, ResponseHeader: 1}, Built: func(string) { built++ }})
	ctx := t.Context()
	go tr.Follow(ctx, inv)

	cached := func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		_, ok := tr.byName["a"]
		return ok
	}
	access, _ := inv.Access("a")
	if _, err := tr.Get("a", access); err != nil {
		t.Fatal(err)
	}
	inv.Replace("src", nil)
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return !cached(), nil
	})
	if err != nil {
		t.Errorf("the transport of a removed cluster was not dropped")
	}
}

// TestChurnLeavesNothingBehind adds members, reaches each once through its
// cached transport, then removes them all: every transport is dropped,
// every connection closed, and the goroutines are back near where they
// started. Not parallel: it counts the process's goroutines.
func TestChurnLeavesNothingBehind(t *testing.T) {
	srv, open, ca := countingServer(t)

	inv := inventory.New()
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	go trs.Follow(t.Context(), inv)
	baseline := runtime.NumGoroutine()

	const members = 200
	var list []inventory.Member
	for i := range members {
		// Each its own access configuration, as distinct members have.
		cfg := &rest.Config{Host: srv.URL, BearerToken: fmt.Sprintf("token-%d", i), TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
		list = append(list, inventory.Member{Name: fmt.Sprintf("m%d", i), Origin: fmt.Sprintf("o%d", i), Access: inventory.Access{Config: cfg, Hash: fmt.Sprint(i)}})
	}
	inv.Replace("src", list)
	for i := range members {
		name := fmt.Sprintf("m%d", i)
		access, _ := inv.Access(name)
		tr, err := trs.Get(name, access)
		if err != nil {
			t.Fatal(err)
		}
		get(t, tr.RoundTripper, srv.URL)
	}
	if got := open.Load(); got != members {
		t.Errorf("%d connections open with %d members in use, want one each", got, members)
	}
	busy := runtime.NumGoroutine()

	inv.Replace("src", nil)
	waitClosed(open, 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseline+10 })
	trs.mu.Lock()
	cached := len(trs.byName)
	trs.mu.Unlock()
	if cached != 0 || open.Load() != 0 {
		t.Errorf("after removing every member: %d transports cached, %d connections open; want none", cached, open.Load())
	}
	if now := runtime.NumGoroutine(); now > baseline+10 {
		t.Errorf("goroutines: %d before, %d in use, %d after removing every member; want back near %d", baseline, busy, now, baseline)
	}
}

// TestClassifyByType checks that typed errors decide before any message:
// a plugin's exit, a deadline and a dial error whose text would match
// something else.
func TestClassifyByType(t *testing.T) {
	t.Parallel()
	exitErr := exec.Command("false").Run()
	tests := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("running the plugin: %w", exitErr), clusters.ReasonCredentialError},
		{fmt.Errorf("waiting: %w", context.DeadlineExceeded), clusters.ReasonUnreachable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("exec plugin mentioned in a host name")}, clusters.ReasonUnreachable},
		{x509.UnknownAuthorityError{}, clusters.ReasonTLSError},
	}
	for _, tc := range tests {
		if got, _ := Classify(tc.err); got != tc.reason {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.reason)
		}
	}
}

// TestTransportFitsItsIdentityMode checks that a transport built for one
// identity mode is never handed out for the other, even when a source
// hashes both the same.
func TestTransportFitsItsIdentityMode(t *testing.T) {
	t.Parallel()
	tr := NewTransports(Options{Timeouts: DefaultTimeouts()})
	access := inventory.Access{Config: &rest.Config{Host: "https://a"}, Hash: "same", Impersonate: true}
	first, err := tr.Get("a", access)
	if err != nil {
		t.Fatal(err)
	}
	access.Impersonate = false
	if _, ok := tr.Cached("a", access); ok {
		t.Error("Cached handed out an impersonating transport for a source-mode access")
	}
	second, err := tr.Get("a", access)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || second.Impersonate || first.Context().Err() == nil {
		t.Errorf("Get reused or kept the transport of the other mode (new %v, old closed %v)", second.Impersonate, first.Context().Err() != nil)
	}
}

// TestClassifyRedacts checks that a URL's userinfo in an error never
// reaches a message.
func TestClassifyRedacts(t *testing.T) {
	t.Parallel()
	_, msg := Classify(errors.New(`Get "https://user:secret@member.example/version": dial tcp: connection refused`))
	if strings.Contains(msg, "secret") {
		t.Errorf("Classify kept the password: %s", msg)
	}
}
