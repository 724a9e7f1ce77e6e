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

// Package proxy forwards requests to member clusters' API servers: the
// handler behind the clusters/proxy subresource, the identity a request
// carries to the member, and the proxy's metrics. How a member is reached
// (transports, credentials) is pkg/member's.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// Proxy forwards requests to the members in an inventory.
type Proxy struct {
	inv        *inventory.Inventory
	transports *member.Transports
	authorizer authorizer.Authorizer
	identity   Identity
	current    func(cluster string, tr *member.Transport) bool
	metrics    *proxyMetrics
	limiter    *limiter
}

// New returns a proxy for the members of inv, reached over transports.
// authz authorizes the extra create check of upgrade requests; identity is
// how the hub user is presented to members reached with impersonation;
// limits bound the requests in flight.
func New(inv *inventory.Inventory, transports *member.Transports, authz authorizer.Authorizer, identity Identity, limits Limits) *Proxy {
	return &Proxy{
		inv: inv, transports: transports, authorizer: authz, identity: identity, current: member.Current(inv),
		metrics: defaultMetrics, limiter: newLimiter(limits),
	}
}

// Handler returns the handler that forwards one request to memberPath on
// cluster. It fails with a Status error a client can act on: 404 for an
// unknown cluster, 503 for one that cannot be reached, 400 for a path that
// would leave the member's server URL.
func (p *Proxy) Handler(cluster, memberPath string, responder rest.Responder) (http.Handler, error) {
	access, ok := p.inv.Access(cluster)
	if !ok {
		return nil, apierrors.NewNotFound(clusters.Resource("clusters"), cluster)
	}
	if access.Err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q cannot be reached: %s: %s", cluster, access.Err.Reason, access.Err.Message))
	}
	if !access.Configured() {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q cannot be reached: its source gave no access configuration", cluster))
	}
	location, err := memberLocation(access.Server(), memberPath)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	tr, err := p.transports.Get(cluster, access)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q cannot be reached: building its client: %s", cluster, inventory.Redact(err.Error())))
	}
	// The access configuration may have changed, and Transports.Follow
	// dropped the transport of the old one, between reading it and caching
	// a transport for it: then this transport must not stay cached for
	// later requests, nor carry this one.
	if !p.current(cluster, tr) {
		p.transports.DropStale(cluster, p.current)
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("cluster %q changed while the request was prepared; retry", cluster))
	}

	var identity *Identity // nil: forward with the source credential alone
	if tr.Impersonate {
		identity = &p.identity
	}
	// forward scrubs the caller's credentials and sets the identity after
	// ReverseProxy's hop-by-hop processing.
	forward := &forwarder{cluster: cluster, identity: identity, next: tr.RoundTripper, closed: tr.Context()}

	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		errs := errorResponder{cluster: cluster, via: access.Via, responder: responder}
		upgrade := httpstream.IsUpgradeRequest(req)
		// An upgrade opens a bidirectional stream. Unless it is a watch (a
		// read, as a WebSocket watch is), it needs create, as kube-apiserver
		// requires for pods/exec, not only the get a WebSocket GET was
		// authorized for.
		if upgrade && !isWatch(req.Method, memberPath, req.URL.RawQuery) {
			if err := p.authorize(req.Context(), "create"); err != nil {
				responder.Error(err)
				return
			}
		}
		u, ok := genericapirequest.UserFrom(req.Context())
		if tr.Impersonate && !ok {
			responder.Error(apierrors.NewUnauthorized(errNoIdentity.Error()))
			return
		}
		userName := ""
		if ok {
			userName = u.GetName()
		}
		verbClass := class(req, memberPath, upgrade)
		release, limit, err := p.limiter.acquire(userName, cluster, verbClass == "watch" || verbClass == "upgrade")
		if err != nil {
			p.metrics.rejected.WithLabelValues(limit).Inc()
			responder.Error(err)
			return
		}
		defer release()
		p.metrics.serve(cluster, verbClass, w, req, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if upgrade {
				serveUpgrade(w, req, location, tr, identity, errs)
				return
			}
			servePlain(w, req, location, forward, errs)
		}))
	}), nil
}

// memberLocation joins the member's server URL (which may carry a path
// prefix, as with cluster managers that front many clusters) and the
// requested path. A path with ".." segments is refused, so no request can
// leave the prefix.
func memberLocation(server, memberPath string) (*url.URL, error) {
	base, err := member.ParseServer(server)
	if err != nil {
		return nil, err
	}
	for _, seg := range strings.Split(memberPath, "/") {
		// Also what servers in front of members may read as "..":
		// "..;params" (Tomcat, Jetty) and backslashes (IIS).
		if seg == ".." || strings.HasPrefix(seg, "..;") || strings.HasPrefix(seg, "..\\") || strings.Contains(seg, "\\..") {
			return nil, errors.New("the proxied path may not contain \"..\"")
		}
	}
	loc := *base
	loc.RawQuery = ""
	loc.Fragment = ""
	loc.RawPath = ""
	joined := path.Join("/", base.Path, memberPath)
	if strings.HasSuffix(memberPath, "/") && !strings.HasSuffix(joined, "/") {
		joined += "/"
	}
	loc.Path = joined
	return &loc, nil
}

// authorize checks the request's attributes with verb instead of its own.
func (p *Proxy) authorize(ctx context.Context, verb string) error {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		return apierrors.NewInternalError(errors.New("no request info in context"))
	}
	if info.Verb == verb {
		return nil
	}
	attrs, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("building authorizer attributes: %w", err))
	}
	decision, reason, err := p.authorizer.Authorize(ctx, overrideVerb{Attributes: attrs, verb: verb})
	if err != nil {
		klog.ErrorS(err, "Authorizing an upgrade request failed", "cluster", info.Name)
	}
	if decision != authorizer.DecisionAllow {
		if reason == "" {
			reason = "streaming (upgrade) requests need " + verb + " on clusters/proxy"
		}
		return apierrors.NewForbidden(clusters.Resource("clusters/proxy"), info.Name, errors.New(reason))
	}
	return nil
}

type overrideVerb struct {
	authorizer.Attributes
	verb string
}

func (o overrideVerb) GetVerb() string { return o.verb }

// errorResponder turns errors from reaching a member into Status responses
// that name the cluster.
type errorResponder struct {
	cluster   string
	via       string
	responder rest.Responder
}

// Error implements the ErrorHandler of httputil.ReverseProxy (and
// k8s.io/apimachinery/pkg/util/proxy.ErrorResponder).
func (e errorResponder) Error(_ http.ResponseWriter, req *http.Request, err error) {
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		return // the client went away
	}
	klog.V(2).InfoS("Proxying to a member failed", "cluster", e.cluster, "err", inventory.Redact(err.Error()))
	e.responder.Error(statusError(e.cluster, e.via, err))
}

// class sorts a request into a metrics verb class; watch and upgrade are
// the streams the limits count apart.
func class(req *http.Request, memberPath string, upgrade bool) string {
	if upgrade {
		return "upgrade"
	}
	switch {
	case streaming(req.Method, memberPath, req.URL.RawQuery):
		return "watch"
	case req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions:
		return "read"
	}
	return "write"
}
