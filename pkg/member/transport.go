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

// Package member is how clusters-apiserver reaches member clusters: the
// cached transports (connection pools, credentials, upgrade dialers) that
// the proxy and the health prober share, the parsing of a member's server
// URL, the classification of failures into Ready reasons, and the time
// limit on exec credential plugins.
package member

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/client-go/util/connrotation"
	"k8s.io/streaming/pkg/httpstream/spdy"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// Timeouts bound how long reaching a member may take before its response
// starts. None of them limits a streaming body.
type Timeouts struct {
	// Dial bounds the TCP connect.
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake.
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for response headers after the
	// request is written.
	ResponseHeader time.Duration
	// CredentialPlugin bounds one run of an exec credential plugin, of any
	// source; the plugin is killed, with its process group, when it passes.
	CredentialPlugin time.Duration
}

// DefaultTimeouts returns the limits the server's flags default to.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Dial:             10 * time.Second,
		TLSHandshake:     10 * time.Second,
		ResponseHeader:   time.Minute,
		CredentialPlugin: 30 * time.Second,
	}
}

// IdleConnTimeout is how long a connection to a member that the proxy no
// longer uses stays open.
const IdleConnTimeout = 90 * time.Second

// probeIdleConnTimeout is how long a health check's connection stays open
// after it: long enough for the check's requests to share it.
const probeIdleConnTimeout = 2 * time.Second

// Transport is how one member is reached: one connection pool for plain
// requests (HTTP/2, keep-alive) and a dialer for protocol upgrades, both
// with the member's credentials.
type Transport struct {
	// RoundTripper carries plain requests with the member's credentials and
	// nothing else.
	RoundTripper http.RoundTripper
	// ProbeRoundTripper is RoundTripper for health checks: the same
	// credentials, over connections that close within
	// probeIdleConnTimeout of the check.
	ProbeRoundTripper http.RoundTripper
	// UpgradeCredentials sets the member's credentials on an upgrade
	// request (it answers with the request, see proxy.MirrorRequest), which
	// the caller then writes to a connection of its own from UpgradeDialer.
	UpgradeCredentials http.RoundTripper
	// UpgradeDialer dials the member for an upgrade, through the same
	// proxy, TLS configuration and dial timeout as RoundTripper.
	UpgradeDialer *spdy.SpdyRoundTripper
	// Timeouts are the limits the transport was built with.
	Timeouts Timeouts
	// Impersonate tells that the source's own impersonation was dropped:
	// the caller is to set the hub user's identity on each request.
	Impersonate bool

	hash      string
	base      *http.Transport
	probeBase *http.Transport
	ctx       context.Context // done once closed: streams on it end
	cancel    context.CancelFunc
}

// Transports caches one Transport per member, rebuilt only when the
// member's access configuration changes, so connections and credentials
// (exec plugin output included) are reused across requests.
type Transports struct {
	Options

	mu     sync.Mutex
	byName map[string]*Transport

	credMu    sync.Mutex
	creds     map[string]*execCredentials // exec plugin credentials, by cluster
	execRetry time.Duration               // execRetryInterval; shorter in tests
}

// Options configure how members are reached.
type Options struct {
	// Timeouts bound reaching a member.
	Timeouts Timeouts
	// Built, if not nil, is called each time a transport is built.
	Built func(cluster string)
}

// NewTransports returns an empty cache.
func NewTransports(opts Options) *Transports {
	return &Transports{Options: opts, byName: map[string]*Transport{}, creds: map[string]*execCredentials{}, execRetry: execRetryInterval}
}

// Get returns the cached transport of cluster, building it when there is
// none or access has changed since it was built.
func (t *Transports) Get(cluster string, access inventory.Access) (*Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.byName[cluster]; ok && cur.fits(access) {
		return cur, nil
	}
	if !access.Configured() {
		return nil, fmt.Errorf("no access configuration")
	}
	next, err := t.build(cluster, access)
	if err != nil {
		return nil, err
	}
	next.hash = access.Hash
	if old, ok := t.byName[cluster]; ok {
		old.close()
	}
	t.byName[cluster] = next
	if t.Built != nil {
		t.Built(cluster)
	}
	return next, nil
}

// Cached returns the cached transport of cluster if it was built for
// access as it is now.
func (t *Transports) Cached(cluster string, access inventory.Access) (*Transport, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.byName[cluster]
	if !ok || !cur.fits(access) {
		return nil, false
	}
	return cur, true
}

// fits tells whether tr was built for access: the same hash and the same
// identity mode, whatever the source put in its hash.
func (tr *Transport) fits(access inventory.Access) bool {
	return tr.hash == access.Hash && tr.Impersonate == access.Impersonate
}

// Temporary builds a transport of cluster for access, for health checks
// only, that is not cached: its ProbeRoundTripper is set, and none of the
// proxy's pool, credentials for upgrades or upgrade dialer is built. The
// caller closes it when done.
func (t *Transports) Temporary(cluster string, access inventory.Access) (*Transport, error) {
	if !access.Configured() {
		return nil, fmt.Errorf("no access configuration")
	}
	p, err := t.prepare(cluster, access)
	if err != nil {
		return nil, err
	}
	probeBase, probeRT, err := p.probe()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		ProbeRoundTripper: probeRT,
		Timeouts:          t.Timeouts,
		Impersonate:       access.Impersonate,
		probeBase:         probeBase,
		ctx:               ctx,
		cancel:            cancel,
	}, nil
}

// Close ends the requests and streams that use the transport and closes
// its idle connections: for a Temporary transport.
func (tr *Transport) Close() { tr.close() }

// Context is done once the transport is closed, dropped or replaced:
// upgraded streams over it end then.
func (tr *Transport) Context() context.Context { return tr.ctx }

// Drop forgets the transport and the exec plugin credential of cluster
// and closes its idle connections. Requests in flight finish on their
// connections.
func (t *Transports) Drop(cluster string) {
	t.mu.Lock()
	if cur, ok := t.byName[cluster]; ok {
		cur.close()
		delete(t.byName, cluster)
	}
	t.mu.Unlock()
	t.credMu.Lock()
	delete(t.creds, cluster)
	t.credMu.Unlock()
}

// DropStale drops the transport of cluster if keep returns false for it.
func (t *Transports) DropStale(cluster string, keep func(cluster string, tr *Transport) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.byName[cluster]; ok && !keep(cluster, cur) {
		cur.close()
		delete(t.byName, cluster)
	}
}

// Prune drops the transports of clusters for which keep returns false.
func (t *Transports) Prune(keep func(cluster string, tr *Transport) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, cur := range t.byName {
		if !keep(name, cur) {
			cur.close()
			delete(t.byName, name)
		}
	}
}

// close ends the requests and upgraded streams that use the transport,
// watches and followed logs included, and closes its idle connections.
func (tr *Transport) close() {
	tr.cancel()
	if tr.base != nil { // nil for a Temporary one
		tr.base.CloseIdleConnections()
	}
	tr.probeBase.CloseIdleConnections()
}

// prepared is what every connection pool and dialer of one member is
// built from.
type prepared struct {
	tc        *transport.Config
	tlsConfig *tls.Config // nil when the member needs no TLS settings of its own
	dialer    *net.Dialer
	dial      utilnet.DialFunc
	proxy     func(*http.Request) (*url.URL, error)
	timeouts  Timeouts
}

// prepare reads access's configuration of cluster into what its pools are
// built from. With access.Impersonate, an impersonation configured in the
// source (a kubeconfig's "as") is ignored: the proxy sets the hub user's
// identity on each request instead.
func (t *Transports) prepare(cluster string, access inventory.Access) (*prepared, error) {
	cfg, err := access.RestConfig()
	if err != nil {
		return nil, err
	}
	var creds *execCredentials
	if cfg.ExecProvider != nil {
		if cfg.AuthProvider != nil {
			return nil, errors.New("execProvider and authProvider cannot be used in combination")
		}
		if creds, err = t.credentials(cluster, access.Hash, cfg); err != nil {
			return nil, err
		}
		// The plugin is run by creds, not by client-go (see execcred.go).
		// A shallow copy, not rest.CopyConfig: that one writes a copy of
		// ExecProvider.Config into the ExecProvider it shares with cfg,
		// which, when a source keeps it (access.Config), the proxy and
		// the prober copy at the same time (a data race the race-built
		// server halted on in CI).
		c := *cfg
		c.ExecProvider = nil
		cfg = &c
	}
	tc, err := cfg.TransportConfig()
	if err != nil {
		return nil, err
	}
	execCert := false
	if creds != nil {
		if execCert, err = creds.apply(tc); err != nil {
			return nil, err
		}
	}
	if access.Impersonate {
		tc.Impersonate = transport.ImpersonationConfig{}
	}
	tlsConfig, err := transport.TLSConfigFor(tc)
	if err != nil {
		return nil, err
	}
	if execCert {
		// The handshake's context, which the wait for the plugin honours.
		tlsConfig.GetClientCertificate = creds.clientCertificate
	}
	dialer := &net.Dialer{Timeout: t.Timeouts.Dial, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if creds != nil {
		// Closed when the plugin returns another client certificate.
		dial = connrotation.NewDialerWithTracker(dial, creds.tracker).DialContext
	}
	proxyFunc := tc.Proxy
	if proxyFunc == nil {
		proxyFunc = utilnet.NewProxierWithNoProxyCIDR(http.ProxyFromEnvironment)
	}
	return &prepared{tc: tc, tlsConfig: tlsConfig, dialer: dialer, dial: dial, proxy: proxyFunc, timeouts: t.Timeouts}, nil
}

// base returns a connection pool whose idle connections close after idle:
// over HTTP/1.1 when http1, else over HTTP/2 when the member offers it, so
// many concurrent requests share one connection.
func (p *prepared) base(idle time.Duration, http1 bool) *http.Transport {
	own := p.tlsConfig.Clone()
	if http1 && (own == nil || len(own.NextProtos) == 0 || slices.Contains(own.NextProtos, "http/1.1")) {
		if own == nil {
			own = &tls.Config{} //nolint:gosec // the defaults, as a nil configuration has: system roots, TLS 1.2 at least
		}
		own.NextProtos = []string{"http/1.1"} // and so SetTransportDefaults leaves HTTP/2 out
	}
	return utilnet.SetTransportDefaults(&http.Transport{
		Proxy:                 p.proxy,
		DialContext:           p.dial,
		TLSClientConfig:       own,
		TLSHandshakeTimeout:   p.timeouts.TLSHandshake,
		ResponseHeaderTimeout: p.timeouts.ResponseHeader,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       idle,
		// Pass the client's Accept-Encoding through as it is: without
		// this the transport would ask for gzip itself and decompress
		// every response for clients that did not want it compressed.
		DisableCompression: true,
	})
}

// probe returns the pool of health checks and its round tripper, with the
// member's credentials: a pool of their own whose connections close soon
// after each check, so that checks do not keep a connection to every
// member open, nor keep the proxy's idle connections from closing. Over
// HTTP/1.1: a check is one or two requests in a row, and an HTTP/2
// connection stays in memory for the read-idle timeout (30 s) after it is
// closed, since the read loop of x/net v0.57.0 (which Go 1.26's net/http
// uses through ConfigureTransports) leaves its ping timer running; checks
// of 2,000 members kept about 100 MB of closed connections reachable that
// way (make bench scenario 5).
func (p *prepared) probe() (*http.Transport, http.RoundTripper, error) {
	base := p.base(probeIdleConnTimeout, true)
	rt, err := transport.HTTPWrappersForConfig(p.tc, base)
	return base, rt, err
}

// build makes the transports of cluster for access.
func (t *Transports) build(cluster string, access inventory.Access) (*Transport, error) {
	p, err := t.prepare(cluster, access)
	if err != nil {
		return nil, err
	}
	base := p.base(IdleConnTimeout, false)
	rt, err := transport.HTTPWrappersForConfig(p.tc, base)
	if err != nil {
		return nil, err
	}
	probeBase, probeRT, err := p.probe()
	if err != nil {
		return nil, err
	}

	// Upgrades: the proxy writes the upgrade request to a connection of
	// its own and then copies bytes both ways, so the credentials are
	// applied to the request itself (proxy.MirrorRequest answers with the
	// request the wrappers prepared), and the connection comes from a
	// dialer that honours the same proxy, TLS configuration and dial
	// timeout as plain requests (the recipe of kubectl's
	// makeUpgradeTransport).
	upgradeCreds, err := transport.HTTPWrappersForConfig(p.tc, proxy.MirrorRequest)
	if err != nil {
		return nil, err
	}
	upgradeDialer, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{TLS: p.tlsConfig.Clone(), Proxier: p.proxy})
	if err != nil {
		return nil, err
	}
	upgradeDialer.Dialer = p.dialer
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		RoundTripper:       rt,
		ProbeRoundTripper:  probeRT,
		UpgradeCredentials: upgradeCreds,
		UpgradeDialer:      upgradeDialer,
		Timeouts:           t.Timeouts,
		Impersonate:        access.Impersonate,
		base:               base,
		probeBase:          probeBase,
		ctx:                ctx,
		cancel:             cancel,
	}, nil
}

// credentials returns the exec plugin credential of cluster for the access
// configuration of hash, which cfg is, shared by every transport built for
// it. A configuration without a hash (tests) gets a credential of its own.
func (t *Transports) credentials(cluster, hash string, cfg *rest.Config) (*execCredentials, error) {
	t.credMu.Lock()
	defer t.credMu.Unlock()
	if cur, ok := t.creds[cluster]; ok && hash != "" && cur.hash == hash {
		return cur, nil
	}
	limit := t.Timeouts.CredentialPlugin
	if limit <= 0 {
		limit = DefaultTimeouts().CredentialPlugin
	}
	handshake := t.Timeouts.TLSHandshake
	if handshake <= 0 {
		handshake = DefaultTimeouts().TLSHandshake
	}
	creds, err := newExecCredentials(cfg, cluster, hash, limit, handshake)
	if err != nil {
		return nil, err
	}
	creds.retry = t.execRetry
	if hash != "" {
		t.creds[cluster] = creds
	}
	return creds, nil
}

// pruneCredentials forgets the exec plugin credentials for which keep
// returns false.
func (t *Transports) pruneCredentials(keep func(cluster, hash string) bool) {
	t.credMu.Lock()
	defer t.credMu.Unlock()
	for name, c := range t.creds {
		if !keep(name, c.hash) {
			delete(t.creds, name)
		}
	}
}

// Current returns a function that tells whether tr was built for the
// access configuration cluster has in inv now: the keep function of Prune
// and DropStale.
func Current(inv *inventory.Inventory) func(cluster string, tr *Transport) bool {
	return func(cluster string, tr *Transport) bool {
		access, ok := inv.Access(cluster)
		return ok && tr.fits(access)
	}
}

// Follow drops the transport and the exec plugin credential of a cluster as
// soon as it leaves inv or its access configuration changes, closing its
// idle connections and ending its streams, until ctx is done.
func (t *Transports) Follow(ctx context.Context, inv *inventory.Inventory) {
	current := Current(inv)
	currentHash := func(cluster, hash string) bool {
		access, ok := inv.Access(cluster)
		return ok && access.Hash == hash
	}
	for {
		changed := inv.AccessChanged()
		t.Prune(current)
		t.pruneCredentials(currentHash)
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
