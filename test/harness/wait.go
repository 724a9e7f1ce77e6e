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
	"fmt"
	"io"
	"net/http"
	"time"
)

// pollInterval is how often readiness is checked.
const pollInterval = 250 * time.Millisecond

// poll calls check every pollInterval until it reports done, returns an
// error, p (if set) exits, or ctx ends. The last reason check gave for not
// being done is part of the error on timeout.
func poll(ctx context.Context, what string, p *process, check func(ctx context.Context) (done bool, reason string, err error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var reason string
	for {
		if p != nil && p.exited() {
			return p.exitError()
		}
		done, r, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		reason = r
		select {
		case <-ctx.Done():
			err := fmt.Errorf("waiting for %s: %w (last: %s)", what, ctx.Err(), reason)
			if p != nil {
				err = fmt.Errorf("%w; last lines of %s:\n%s", err, p.logFile, p.tail(40))
			}
			return err
		case <-t.C:
		}
	}
}

// waitHTTP200 polls url with client until it answers 200 OK.
func waitHTTP200(ctx context.Context, what string, p *process, client *http.Client, url string) error {
	return poll(ctx, what, p, func(ctx context.Context) (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		if err != nil {
			return false, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("%s: %s", resp.Status, body), nil
		}
		return true, "", nil
	})
}
