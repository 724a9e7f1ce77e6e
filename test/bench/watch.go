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
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// watchEvent is the part of a watch event the bench reads.
type watchEvent struct {
	Type   string `json:"type"`
	Object struct {
		Metadata struct {
			Name            string            `json:"name"`
			ResourceVersion string            `json:"resourceVersion"`
			Labels          map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Server string `json:"server"`
		} `json:"spec"`
	} `json:"object"`
}

// watchStream is one open watch: its events arrive on a channel, each with
// the time it was read.
type watchStream struct {
	events chan timedEvent
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

type timedEvent struct {
	watchEvent
	at time.Time
}

// openWatch starts a watch at ep and returns once the answer's headers have
// arrived, that is once the watch is established. Events are dropped when
// nobody reads them fast enough unless buffer is large enough.
func openWatch(ctx context.Context, client *http.Client, ep endpoint, buffer int) (*watchStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url, http.NoBody)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, vs := range ep.header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", ep.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("watch %s: %s", ep.url, resp.Status)
	}
	w := &watchStream{events: make(chan timedEvent, buffer), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer resp.Body.Close()
		dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
		for {
			var ev watchEvent
			if err := dec.Decode(&ev); err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				return
			}
			select {
			case w.events <- timedEvent{watchEvent: ev, at: time.Now()}:
			default:
			}
		}
	}()
	return w, nil
}

// close ends the watch and waits for its reader. It may be called again.
func (w *watchStream) close() {
	w.cancel()
	<-w.done
}

// waitFor returns the first event that matches, or fails after timeout.
func (w *watchStream) waitFor(timeout time.Duration, match func(watchEvent) bool) (timedEvent, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-w.events:
			if match(ev.watchEvent) {
				return ev, nil
			}
		case <-w.done:
			return timedEvent{}, fmt.Errorf("the watch ended: %v", w.err)
		case <-t.C:
			return timedEvent{}, fmt.Errorf("no matching event within %s", timeout)
		}
	}
}

// collectWatches opens n watches at ep with one shared client, at most
// parallel at a time, and returns them once all are established.
func collectWatches(ctx context.Context, client *http.Client, ep endpoint, n, parallel int) ([]*watchStream, error) {
	out := make([]*watchStream, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w, err := openWatch(ctx, client, ep, 4)
			if err != nil {
				errs <- err
				return
			}
			out[i] = w
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, w := range out {
			if w != nil {
				w.close()
			}
		}
		return nil, err
	}
	return out, nil
}
