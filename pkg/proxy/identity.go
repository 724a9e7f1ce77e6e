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

package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// errNoIdentity is returned instead of sending a request that should carry
// the hub user's identity but has none to carry.
var errNoIdentity = errors.New("no authenticated hub user to impersonate on the member")

// forwarder is the last step of a proxied plain request before the
// member's credentials are added. It runs after httputil.ReverseProxy has
// removed the hop-by-hop headers, those a caller names in Connection
// included, so nothing the caller sends can remove what it sets: like
// kube-aggregator, which adds identity in transport.NewAuthProxyRoundTripper
// for the same reason.
//
// A request also ends when the transport is closed (its member's access
// configuration changed or it left), so that a watch or a followed log does
// not outlive the credential it was opened with.
type forwarder struct {
	cluster  string
	identity *Identity // nil: forward with the source credential alone
	next     http.RoundTripper
	closed   context.Context // done when the transport is closed
}

// RoundTrip implements http.RoundTripper.
func (f *forwarder) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(f.closed, cancel)
	end := func() { stop(); cancel() }
	req = req.Clone(ctx)
	if err := forwardIdentity(ctx, req.Header, f.identity); err != nil {
		end()
		return nil, err
	}
	resp, err := f.next.RoundTrip(req)
	if err != nil {
		end()
		return nil, err
	}
	resp = guardResponse(f.cluster, resp)
	resp.Body = &endOnClose{ReadCloser: resp.Body, end: end}
	return resp, nil
}

// endOnClose calls end once the body is closed.
type endOnClose struct {
	io.ReadCloser
	end func()
}

// Close implements io.Closer.
func (b *endOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

// strippedPrefixes and strippedHeaders name, in lower case with "_" read
// as "-", the headers that identify or authorize the caller to this
// server. The proxy never forwards them: the member must see only the
// source credential and, when impersonating, the identity the hub
// authenticated. Names are compared that loosely because some servers and
// proxies in front of members treat "_" as "-" or ignore case in ways Go
// does not.
var (
	strippedPrefixes = []string{"impersonate-", "x-remote-"}
	strippedHeaders  = []string{"authorization", "cookie", "proxy-authorization"}
)

// bearerProtocolPrefix starts the WebSocket subprotocol in which a
// browser client sends its bearer token (kube-apiserver's
// base64url.bearer.authorization.k8s.io.TOKEN).
const bearerProtocolPrefix = "base64url.bearer.authorization.k8s.io." //nolint:gosec // a protocol name, not a credential

// scrubHeaders removes every header that identifies or authorizes the
// caller, and any bearer token offered as a WebSocket subprotocol.
func scrubHeaders(h http.Header) {
	for name := range h {
		if identifying(name) {
			delete(h, name)
		}
	}
	var protocols, keep []string
	for name, vs := range h {
		if normalize(name) == "sec-websocket-protocol" {
			protocols = append(protocols, vs...)
			delete(h, name)
		}
	}
	for _, v := range protocols {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(strings.ToLower(p), bearerProtocolPrefix) {
				keep = append(keep, p)
			}
		}
	}
	if len(keep) > 0 {
		h.Set("Sec-Websocket-Protocol", strings.Join(keep, ", "))
	}
}

// normalize is a header name in lower case with "_" read as "-".
func normalize(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
}

// identifying tells whether a header of that name identifies or
// authorizes the caller.
func identifying(name string) bool {
	n := normalize(name)
	for _, s := range strippedHeaders {
		if n == s {
			return true
		}
	}
	for _, p := range strippedPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// Identity is how the proxy presents the hub user to members when it
// impersonates.
type Identity struct {
	// UserPrefix is put before the hub user's name, so that hub users
	// cannot pass for the members' own users (as kube-apiserver's OIDC
	// username prefix does).
	UserPrefix string
	// GroupPrefix is put before each forwarded group name.
	GroupPrefix string
	// DropGroups are hub groups that are never forwarded, such as
	// system:masters: a hub break-glass group must not silently become
	// admin of every member.
	DropGroups []string
}

// DefaultIdentity is the mapping the server's flags default to: names as
// they are, less the groups that are admin on every (kubeadm) cluster.
func DefaultIdentity() Identity {
	return Identity{DropGroups: []string{"system:masters", "kubeadm:cluster-admins"}}
}

// forwardIdentity removes from h every header that identifies or
// authorizes the caller and, unless id is nil, sets the identity of the
// hub user in ctx as id presents it. It fails rather than let a request
// that should be impersonated leave without Impersonate-User.
func forwardIdentity(ctx context.Context, h http.Header, id *Identity) error {
	scrubHeaders(h)
	if id == nil {
		return nil
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || u.GetName() == "" {
		return errNoIdentity
	}
	id.set(h, u)
	return nil
}

// set sets the headers that make the member act as u. The member adds
// system:authenticated itself, and impersonating it explicitly is refused
// by some authorizers, so it is left out.
func (id *Identity) set(h http.Header, u user.Info) {
	h.Set(authenticationv1.ImpersonateUserHeader, id.UserPrefix+u.GetName())
	if uid := u.GetUID(); uid != "" {
		h.Set(authenticationv1.ImpersonateUIDHeader, uid)
	}
	for _, g := range u.GetGroups() {
		if g != user.AllAuthenticated && !slices.Contains(id.DropGroups, g) {
			h.Add(authenticationv1.ImpersonateGroupHeader, id.GroupPrefix+g)
		}
	}
	for k, vs := range u.GetExtra() {
		for _, v := range vs {
			h.Add(authenticationv1.ImpersonateUserExtraHeaderPrefix+escapeExtraKey(k), v)
		}
	}
}

// escapeExtraKey percent-encodes an extra key so that it is a valid header
// name, the way client-go does and kube-apiserver decodes.
func escapeExtraKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if isTokenChar(c) && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%")
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// isTokenChar reports whether c may appear in an HTTP header name (RFC 7230
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
