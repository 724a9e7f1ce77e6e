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
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// maxUpgradeResponseHeader bounds what is read of a member's answer to an
// upgrade before its headers are complete.
const maxUpgradeResponseHeader = 64 << 10

// hopByHop are the headers that belong to one connection (RFC 9110
// section 7.6.1), which a proxy does not forward.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// serveUpgrade forwards a protocol upgrade (SPDY or WebSocket: exec,
// attach, port-forward, WebSocket watches) to location on the member, then
// copies bytes both ways until either side closes or the member's
// transport is dropped.
//
// This is not UpgradeAwareHandler's upgrade path because that one dials
// without the member's proxy (proxy-url, HTTPS_PROXY) and without limits
// on the TLS handshake and the wait for response headers, and echoes a
// member's refusal as it is, where a 401 would make the client distrust its
// hub credential. The path and query are the client's, unchanged.
func serveUpgrade(w http.ResponseWriter, req *http.Request, location *url.URL, tr *member.Transport, identity *Identity, errs errorResponder) {
	// The transport may be dropped (its member's access changed) at any
	// time: from then on nothing is sent with its credential, the dial
	// included.
	ctx, cancelReq := context.WithCancel(req.Context())
	defer cancelReq()
	defer context.AfterFunc(tr.Context(), cancelReq)()
	if req.ContentLength != 0 || len(req.TransferEncoding) > 0 {
		errs.responder.Error(apierrors.NewBadRequest("an upgrade request may not have a body"))
		return
	}
	out := req.Clone(ctx)
	loc := *location
	loc.RawQuery = req.URL.RawQuery
	out.URL, out.Host, out.RequestURI = &loc, loc.Host, ""
	upgradeHeaders(out.Header)
	utilnet.AppendForwardedForHeader(out)
	// Identity after the hop-by-hop headers are gone, credentials last.
	if err := forwardIdentity(ctx, out.Header, identity); err != nil {
		errs.Error(w, req, err)
		return
	}
	prepared, err := tr.UpgradeCredentials.RoundTrip(out)
	if err != nil {
		errs.Error(w, req, err)
		return
	}
	out = prepared.Request

	dialCtx, cancel := withTimeout(ctx, tr.Timeouts.Dial+tr.Timeouts.TLSHandshake)
	backend, err := tr.UpgradeDialer.Dial(out.WithContext(dialCtx))
	cancel()
	if err != nil {
		errs.Error(w, req, err)
		return
	}
	defer backend.Close()
	defer context.AfterFunc(ctx, func() { _ = backend.Close() })()

	// Every byte read from the member is kept: those past the response
	// headers already belong to the upgraded stream.
	var raw bytes.Buffer
	if d := tr.Timeouts.ResponseHeader; d > 0 {
		_ = backend.SetReadDeadline(time.Now().Add(d))
	}
	headers := io.LimitReader(io.TeeReader(backend, &raw), maxUpgradeResponseHeader)
	resp, err := http.ReadResponse(bufio.NewReader(headers), out)
	if err != nil {
		errs.Error(w, req, fmt.Errorf("reading the member's answer to the upgrade request: %w", err))
		return
	}
	_ = backend.SetReadDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		refused(w, errs, resp, backend)
		return
	}

	hj, ok := w.(http.Hijacker)
	if !ok {
		errs.Error(w, req, fmt.Errorf("the connection cannot be taken over for streaming (%T)", w))
		return
	}
	client, buffered, err := hj.Hijack()
	if err != nil {
		errs.Error(w, req, fmt.Errorf("taking over the connection for streaming: %w", err))
		return
	}
	defer client.Close()
	if _, err := client.Write(raw.Bytes()); err != nil {
		return
	}
	// Bytes the client sent right after its request may already sit in the
	// server's buffer.
	var fromClient io.Reader = client
	if n := buffered.Reader.Buffered(); n > 0 {
		fromClient = io.MultiReader(io.LimitReader(buffered.Reader, int64(n)), client)
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(backend, fromClient); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, backend); done <- struct{}{} }()
	select {
	case <-done:
	case <-tr.Context().Done():
		// The member's access configuration changed or it left: a stream
		// opened with the old credential does not outlive it.
	}
}

// refused answers the client when the member did not switch protocols: a
// member's error is passed on (a 401, 407 or redirect as refusedAnswer
// says), any other answer is a 502.
func refused(w http.ResponseWriter, errs errorResponder, resp *http.Response, backend net.Conn) {
	// The member's error body is short; do not wait long for it.
	_ = backend.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer resp.Body.Close()
	if st := refusedAnswer(errs.cluster, resp); st != nil {
		errs.responder.Error(st)
		return
	}
	if resp.StatusCode < http.StatusBadRequest {
		errs.responder.Error(badGateway(fmt.Sprintf("cluster %q did not switch protocols: it answered %d %s",
			errs.cluster, resp.StatusCode, http.StatusText(resp.StatusCode))))
		return
	}
	for _, name := range hopByHop {
		resp.Header.Del(name)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

// upgradeHeaders removes the hop-by-hop headers of an upgrade request,
// those the client names in Connection included, and keeps only what the
// upgrade itself needs: Connection: Upgrade and the client's Upgrade.
func upgradeHeaders(h http.Header) {
	upgrade := h.Values("Upgrade")
	// X-Forwarded-For records who asked, for the member's audit log: a
	// caller naming it in Connection does not get to erase it.
	forwardedFor := h.Values("X-Forwarded-For")
	for _, v := range h.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	h.Set("Connection", "Upgrade")
	h["Upgrade"] = upgrade
	if len(forwardedFor) > 0 {
		h["X-Forwarded-For"] = forwardedFor
	}
}

// memberRequests parses paths on members the way kube-apiserver does.
var memberRequests = &genericapirequest.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// isWatch tells whether a request for memberPath with rawQuery is, to a
// member kube-apiserver, a watch of resources: a read, which over WebSocket
// needs no more than the get a GET was authorized for. Anything else that
// upgrades (exec, attach, portforward, and the proxy subresources of pods,
// services and nodes) opens a stream that can change things, and needs
// create, as kube-apiserver requires for pods/exec.
//
// The path is parsed as kube-apiserver parses it; the query only says
// whether a GET of a collection watches it (a collection GET that does not
// cannot upgrade), and is read here rather than decoded, so that a query
// that does not decode changes nothing and logs nothing.
func isWatch(method, memberPath, rawQuery string) bool {
	if method != http.MethodGet {
		return false
	}
	info, err := memberRequests.NewRequestInfo(&http.Request{Method: method, URL: &url.URL{Path: "/" + strings.TrimPrefix(memberPath, "/")}})
	if err != nil || !info.IsResourceRequest || info.Subresource != "" {
		return false
	}
	switch info.Verb {
	case "watch": // the legacy /watch/ paths
		return true
	case "list":
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return false
		}
		w := q["watch"]
		return len(w) > 0 && (w[0] == "1" || strings.EqualFold(w[0], "true"))
	}
	return false
}

// withTimeout is context.WithTimeout, with no limit for d <= 0.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
