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

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// load is one load point: workers send requests back to back, each waiting
// for the previous answer, as a client-go program's goroutines do.
type load struct {
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	// requests, when positive, ends the load after that many measured
	// requests instead of after duration.
	requests int
	// connPerWorker gives every worker its own client (and connection)
	// instead of one shared client.
	connPerWorker bool
}

// sample is one measured request.
type sample struct {
	start, end time.Time
	bytes      int64
}

// measured is what a load measured: its requests and how long it ran.
type measured struct {
	samples  []sample
	seconds  float64
	errors   int
	firstErr error
}

// add pools another run's requests into m.
func (m *measured) add(o measured) {
	m.samples = append(m.samples, o.samples...)
	m.seconds += o.seconds
	m.errors += o.errors
	if m.firstErr == nil {
		m.firstErr = o.firstErr
	}
}

// stats summarizes the pooled requests: throughput over the time they ran.
func (m measured) stats() stats {
	st := summarize(m.samples, m.errors)
	if m.seconds > 0 {
		var bytes int64
		for _, s := range m.samples {
			bytes += s.bytes
		}
		st.Seconds = m.seconds
		st.RPS = float64(len(m.samples)) / m.seconds
		st.BytesPerSecond = float64(bytes) / m.seconds
	}
	return st
}

// run sends GETs to ep under l with new clients and returns the measured
// requests. A request that fails or does not answer 200 counts as an
// error; the first error is returned.
func (l load) run(ctx context.Context, ep endpoint) (stats, error) {
	clients := l.clients(ep)
	defer closeAll(clients)
	m := l.runWith(ctx, clients, ep)
	if m.firstErr != nil {
		return m.stats(), fmt.Errorf("%s: %d requests failed, the first: %w", ep.url, m.errors, m.firstErr)
	}
	return m.stats(), nil
}

// clients returns one client per worker: the same one for all, unless
// connPerWorker.
func (l load) clients(ep endpoint) []*http.Client {
	out := make([]*http.Client, l.concurrency)
	shared := httpClient(ep.tls)
	for i := range out {
		out[i] = shared
		if l.connPerWorker {
			out[i] = httpClient(ep.tls)
		}
	}
	return out
}

func closeAll(clients []*http.Client) {
	for _, c := range clients {
		c.CloseIdleConnections()
	}
}

// runWith sends GETs to ep under l, worker i with clients[i]. Requests that
// start during the warm-up are not measured.
func (l load) runWith(ctx context.Context, clients []*http.Client, ep endpoint) measured {
	var (
		mu     sync.Mutex
		m      measured
		wg     sync.WaitGroup
		issued int
	)
	begin := time.Now()
	measureFrom := begin.Add(l.warmup)
	stopAt := measureFrom.Add(l.duration)
	// take reports whether another request may start and whether it is
	// measured.
	take := func(now time.Time) (counted, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return false, false
		}
		if now.Before(measureFrom) {
			return false, true
		}
		if l.requests > 0 {
			if issued >= l.requests {
				return false, false
			}
			issued++
			return true, true
		}
		return true, now.Before(stopAt)
	}
	var last time.Time
	for i := range l.concurrency {
		client := clients[i]
		wg.Go(func() {
			var local []sample
			for {
				start := time.Now()
				isMeasured, ok := take(start)
				if !ok {
					break
				}
				n, err := get(ctx, client, ep)
				end := time.Now()
				if err != nil {
					mu.Lock()
					m.errors++
					if m.firstErr == nil {
						m.firstErr = err
					}
					mu.Unlock()
					continue
				}
				if isMeasured {
					local = append(local, sample{start: start, end: end, bytes: n})
				}
			}
			mu.Lock()
			m.samples = append(m.samples, local...)
			if n := len(local); n > 0 && local[n-1].end.After(last) {
				last = local[n-1].end
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if !last.IsZero() {
		m.seconds = last.Sub(measureFrom).Seconds()
	}
	return m
}

// get sends one GET and reads the whole answer; it fails unless the answer
// is 200.
func get(ctx context.Context, client *http.Client, ep endpoint) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url, http.NoBody)
	if err != nil {
		return 0, err
	}
	for k, vs := range ep.header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s", resp.Status)
	}
	return n, nil
}

// timedGet sends one GET and times it until the whole body is read.
func timedGet(ctx context.Context, client *http.Client, ep endpoint) (sample, error) {
	start := time.Now()
	n, err := get(ctx, client, ep)
	if err != nil {
		return sample{}, fmt.Errorf("GET %s: %w", ep.url, err)
	}
	return sample{start: start, end: time.Now(), bytes: n}, nil
}

// getBody sends one GET and returns the answer's body; it fails unless the
// answer is 200.
func getBody(ctx context.Context, client *http.Client, ep endpoint, header http.Header) ([]byte, error) {
	_, body, err := fetch(ctx, client, ep, header)
	return body, err
}

// fetch sends one GET with ep's headers and header, and returns the answer
// and its whole body; it fails unless the answer is 200.
func fetch(ctx context.Context, client *http.Client, ep endpoint, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url, http.NoBody)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range ep.header {
		req.Header[k] = vs
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp, body, fmt.Errorf("GET %s: %s: %.300s", ep.url, resp.Status, body)
	}
	return resp, body, nil
}
