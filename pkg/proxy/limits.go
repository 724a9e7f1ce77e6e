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
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Limits bound the proxied requests in flight on one server. Zero means
// no limit.
type Limits struct {
	// RequestsPerUser bounds one hub user's plain (not watch, not
	// upgrade) proxied requests, to all clusters.
	RequestsPerUser int
	// RequestsPerCluster bounds the plain proxied requests to one
	// cluster, of all users.
	RequestsPerCluster int
	// Requests bounds all plain proxied requests.
	Requests int
	// StreamsPerUser bounds one hub user's watches, followed logs and
	// upgraded streams (exec, attach, port-forward, WebSocket watches),
	// to all clusters.
	StreamsPerUser int
}

// DefaultLimits are the limits the server's flags default to: far above
// what kubectl, client-go informers or a UI open for one person (a UI
// watching ten resources on each of a hundred clusters holds a thousand
// watches).
func DefaultLimits() Limits {
	return Limits{RequestsPerUser: 200, RequestsPerCluster: 500, Requests: 2000, StreamsPerUser: 2000}
}

// retryAfterSeconds is what a refused request is told to wait.
const retryAfterSeconds = 1

// limiter counts proxied requests in flight. A count back at zero is
// removed, so it holds an entry only per user and cluster with requests in
// flight.
type limiter struct {
	limits Limits

	mu       sync.Mutex
	users    map[string]int // plain requests, by user
	streams  map[string]int // streams, by user
	clusters map[string]int // plain requests, by cluster
	total    int
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, users: map[string]int{}, streams: map[string]int{}, clusters: map[string]int{}}
}

// acquire counts a request of user to cluster, a stream or not, and
// returns the function that ends it; or, when a limit is reached, a 429
// Status naming the limit, its flag and what to do, and the limit's name
// for metrics.
func (l *limiter) acquire(user, cluster string, stream bool) (release func(), limit string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if stream {
		if n := l.limits.StreamsPerUser; n > 0 && l.streams[user] >= n {
			return nil, "streams-per-user", tooMany(fmt.Sprintf("you have %d proxied watches and streams open through this server, its limit per user (--proxy-max-streams-per-user); close some", n))
		}
		l.streams[user]++
		return l.once(func() { dec(l.streams, user) }), "", nil
	}
	switch {
	case l.limits.RequestsPerUser > 0 && l.users[user] >= l.limits.RequestsPerUser:
		return nil, "requests-per-user", tooMany(fmt.Sprintf("you have %d proxied requests in flight through this server, its limit per user (--proxy-max-requests-per-user)", l.limits.RequestsPerUser))
	case l.limits.RequestsPerCluster > 0 && l.clusters[cluster] >= l.limits.RequestsPerCluster:
		return nil, "requests-per-cluster", tooMany(fmt.Sprintf("cluster %q has %d proxied requests in flight through this server, its limit per cluster (--proxy-max-requests-per-cluster)", cluster, l.limits.RequestsPerCluster))
	case l.limits.Requests > 0 && l.total >= l.limits.Requests:
		return nil, "requests", tooMany(fmt.Sprintf("this server has %d proxied requests in flight, its limit (--proxy-max-requests)", l.limits.Requests))
	}
	l.users[user]++
	l.clusters[cluster]++
	l.total++
	return l.once(func() {
		dec(l.users, user)
		dec(l.clusters, cluster)
		l.total--
	}), "", nil
}

// once returns a function that runs undo under l.mu, the first time only.
func (l *limiter) once(undo func()) func() {
	var o sync.Once
	return func() {
		o.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			undo()
		})
	}
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
