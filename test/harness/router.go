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

package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// router is the front end of several clusters-apiserver replicas, as the
// hub's aggregation layer is with --enable-aggregator-routing and several
// endpoints: each request goes to a replica picked at random among those
// running. It listens on the port the APIService names, serves the
// replicas' certificate, admits only clients with the hub's front-proxy
// client certificate (the aggregation layer), and reaches the replicas
// with that same certificate, passing the aggregation layer's identity
// headers on. Upgrades (exec, port-forward) and streams go through.
type router struct {
	srv      *http.Server
	listener net.Listener
	served   atomic.Int64 // requests routed, for a test to check it routed

	mu      sync.Mutex
	ports   map[int]bool           // the replicas to route to
	watches map[int]map[string]int // watches open on each replica, by User-Agent
}

// startRouter listens on 127.0.0.1:port with serving, admitting clients
// that frontProxyCA signed, and routes to the replicas' ports, trusting
// servingCA and presenting client.
func startRouter(port int, serving tls.Certificate, frontProxyCA, servingCA *x509.CertPool, client tls.Certificate) (*router, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("the replicas' router: %w", err)
	}
	r := &router{listener: l, ports: map[int]bool{}, watches: map[int]map[string]int{}}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: servingCA, Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 100,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "https"
			pr.Out.URL.Host = pr.In.Context().Value(backendKey{}).(string)
			pr.Out.Host = pr.In.Host
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			http.Error(w, "router: "+err.Error(), http.StatusBadGateway)
		},
	}
	r.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			port, ok := r.pick()
			if !ok {
				http.Error(w, "router: no replica is running", http.StatusServiceUnavailable)
				return
			}
			r.served.Add(1)
			if q := req.URL.Query().Get("watch"); q == "true" || q == "1" {
				defer r.watching(port, req.UserAgent(), -1)
				r.watching(port, req.UserAgent(), 1)
			}
			backend := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			proxy.ServeHTTP(w, req.WithContext(contextWithBackend(req, backend)))
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientCAs:    frontProxyCA,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		// The hub's availability checks drop connections in mid-handshake:
		// nothing worth printing.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		if err := r.srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "harness: the replicas' router stopped: %v\n", err)
		}
	}()
	return r, nil
}

type backendKey struct{}

func contextWithBackend(req *http.Request, backend string) context.Context {
	return context.WithValue(req.Context(), backendKey{}, backend)
}

// pick returns a running replica's port, at random.
func (r *router) pick() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ports) == 0 {
		return 0, false
	}
	n := rand.IntN(len(r.ports)) //nolint:gosec // load spreading, not a secret
	for port := range r.ports {
		if n == 0 {
			return port, true
		}
		n--
	}
	return 0, false
}

// watching counts a watch routed to port opening (1) or ending (-1).
func (r *router) watching(port int, userAgent string, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watches[port] == nil {
		r.watches[port] = map[string]int{}
	}
	r.watches[port][userAgent] += d
}

// watchesOn returns how many watches whose User-Agent starts with prefix
// are open on port.
func (r *router) watchesOn(port int, prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for ua, c := range r.watches[port] {
		if strings.HasPrefix(ua, prefix) {
			n += c
		}
	}
	return n
}

// route adds or removes a replica's port.
func (r *router) route(port int, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.ports[port] = true
	} else {
		delete(r.ports, port)
	}
}

// close stops the router and its connections.
func (r *router) close() {
	_ = r.srv.Close()
}
