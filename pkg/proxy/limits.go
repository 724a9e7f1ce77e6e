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

// Proxied requests are long-running requests to the hub: neither its API
// Priority and Fairness nor this server's max-in-flight filter limits
// them. These limits bound what one hub user, and all of them together,
// may have in flight through this server, so that one user's flood
// neither starves the others nor the members.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Limits bound the proxied requests in flight on one server. Zero means
// no limit. Streams are watches, followed logs and upgraded streams (exec,
// attach, port-forward, WebSocket watches); requests are all others.
type Limits struct {
	// RequestsPerUser bounds one hub user's requests, to all clusters.
	RequestsPerUser int
	// RequestsPerCluster bounds the requests to one cluster, of all users.
	RequestsPerCluster int
	// Requests bounds all requests.
	Requests int
	// StreamsPerUser bounds one hub user's streams, to all clusters.
	StreamsPerUser int
	// StreamsPerCluster bounds the streams to one cluster, of all users.
	StreamsPerCluster int
	// Streams bounds all streams.
	Streams int
}

// DefaultLimits are the limits the server's flags default to: far above
// what kubectl, client-go informers or a UI open for one person (a UI
// watching ten resources on each of a hundred clusters holds a thousand
// watches), and a user's share a tenth of a cluster's.
func DefaultLimits() Limits {
	return Limits{RequestsPerUser: 100, RequestsPerCluster: 1000, Requests: 4000, StreamsPerUser: 2000, StreamsPerCluster: 4000, Streams: 10000}
}

// retryAfterSeconds is what a refused request is told to wait.
const retryAfterSeconds = 1

// counts are the requests, or the streams, in flight. A count back at zero
// is removed, so there is an entry only per user and cluster with some in
// flight.
type counts struct {
	users    map[string]int
	clusters map[string]int
	total    int
}

// limiter counts proxied requests and streams in flight.
type limiter struct {
	limits Limits

	mu      sync.Mutex
	plain   counts
	streams counts
}

func newLimiter(l Limits) *limiter {
	return &limiter{
		limits:  l,
		plain:   counts{users: map[string]int{}, clusters: map[string]int{}},
		streams: counts{users: map[string]int{}, clusters: map[string]int{}},
	}
}

// acquire counts a request, or a stream, of user to cluster and returns
// the function that ends it; or, when a limit is reached, a 429 Status
// naming the limit and its flag, and the limit's name for metrics.
func (l *limiter) acquire(user, cluster string, stream bool) (release func(), limit string, err error) {
	c, kind, what := &l.plain, "requests", "proxied requests in flight"
	perUser, perCluster, all := l.limits.RequestsPerUser, l.limits.RequestsPerCluster, l.limits.Requests
	if stream {
		c, kind, what = &l.streams, "streams", "proxied watches and streams open"
		perUser, perCluster, all = l.limits.StreamsPerUser, l.limits.StreamsPerCluster, l.limits.Streams
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case perUser > 0 && c.users[user] >= perUser:
		return nil, kind + "-per-user", tooMany(fmt.Sprintf("you have %d %s through this server, its limit per user (--proxy-max-%s-per-user)", perUser, what, kind))
	case perCluster > 0 && c.clusters[cluster] >= perCluster:
		return nil, kind + "-per-cluster", tooMany(fmt.Sprintf("cluster %q has %d %s through this server, its limit per cluster (--proxy-max-%s-per-cluster)", cluster, perCluster, what, kind))
	case all > 0 && c.total >= all:
		return nil, kind, tooMany(fmt.Sprintf("this server has %d %s, its limit (--proxy-max-%s)", all, what, kind))
	}
	c.users[user]++
	c.clusters[cluster]++
	c.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			dec(c.users, user)
			dec(c.clusters, cluster)
			c.total--
		})
	}, "", nil
}

// dec lowers m[key], removing it at zero.
func dec(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// tooMany is a 429 Status with Retry-After.
func tooMany(message string) error {
	return apierrors.NewTooManyRequests(message, retryAfterSeconds)
}

// streaming tells whether a request to the member that is not an upgrade
// holds its response open: a watch of a collection (or on a legacy /watch/
// path) or a followed pod log. The query is read as the member reads a
// boolean parameter: any value but "0" or "false", an empty one included,
// is true. A query that does not parse counts as a plain request, the
// tighter limits.
func streaming(method, memberPath, rawQuery string) bool {
	if method != http.MethodGet {
		return false
	}
	info, err := memberRequests.NewRequestInfo(&http.Request{Method: method, URL: &url.URL{Path: "/" + strings.TrimPrefix(memberPath, "/")}})
	if err != nil || !info.IsResourceRequest {
		return false
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return false
	}
	truthy := func(v []string) bool { return len(v) > 0 && v[0] != "0" && !strings.EqualFold(v[0], "false") }
	switch {
	case info.Verb == "watch":
		return true
	case info.Verb == "list" && info.Subresource == "":
		return truthy(q["watch"])
	case info.Verb == "get" && info.Resource == "pods" && info.Subresource == "log":
		return truthy(q["follow"])
	}
	return false
}
