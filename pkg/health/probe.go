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

package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// probe checks the member at server with tr: /readyz, or /healthz when the
// member has no /readyz (or hides it), and /version when withVersion. via
// describes the member's credential for failure messages.
func probe(ctx context.Context, tr *member.Transport, server, via string, timeout time.Duration, withVersion bool) inventory.Health {
	h := inventory.Health{Checked: true}
	code, _, err := get(ctx, tr, server, "/readyz", timeout)
	if err == nil && code != http.StatusOK && code != http.StatusInternalServerError && code != http.StatusServiceUnavailable {
		code, _, err = get(ctx, tr, server, "/healthz", timeout)
	}
	switch {
	case err != nil:
		h.Reason, h.Message = member.Explain(err, via)
		return h
	case code != http.StatusOK:
		h.Reason, h.Message = clusters.ReasonUnhealthy, fmt.Sprintf("the API server's health check answered %d %s", code, http.StatusText(code))
		return h
	}
	h.Ready, h.Reason, h.Message = true, clusters.ReasonHealthy, "The API server answers its health checks."
	if withVersion {
		if code, body, err := get(ctx, tr, server, "/version", timeout); err == nil && code == http.StatusOK {
			var v struct {
				GitVersion string `json:"gitVersion"`
			}
			if json.Unmarshal(body, &v) == nil {
				h.Version = v.GitVersion
			}
		}
	}
	return h
}

// get requests p on the member and returns the status code and up to 64 KiB
// of the body.
func get(ctx context.Context, tr *member.Transport, server, p string, timeout time.Duration) (int, []byte, error) {
	u, err := member.ParseServer(server)
	if err != nil {
		return 0, nil, err
	}
	u.Path = path.Join("/", u.Path, p)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return 0, nil, err
	}
	resp, err := tr.ProbeRoundTripper.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, err
}
