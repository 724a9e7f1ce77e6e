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

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestReadyzIsHonest starts the server and, the moment its /readyz answers
// ok, lists Clusters once on its own port as the hub's front proxy does,
// with no retry: the list must already hold every source's clusters, and
// the front-proxy request must be authenticated (not anonymous, which
// would be refused). Done twice, as a race shows only sometimes.
func TestReadyzIsHonest(t *testing.T) {
	clearDynamic(t)
	writeDynamic(t, map[string]string{"e2e-readyz": env.Members[1].URL})
	harness.Eventually(t, 20*time.Second, "the dynamic source is read", func() (bool, string) {
		out, err := kubectlAs(env.HubKubeconfig, "get", "clusters", "-o", "name")
		return err == nil && strings.Contains(out, "e2e-readyz"), out
	})
	cfg, headers, err := env.FrontProxyTLS()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"e2e-readyz", "member-1", "member-2"}
	t.Cleanup(func() {
		// Leave the server as the other tests need it: registered and
		// served by the hub.
		env.StopServer()
		if err := env.StartServer(context.Background()); err != nil {
			t.Errorf("restarting clusters-apiserver: %v", err)
		}
	})
	for round := range 2 {
		env.StopServer()
		// StartServerUnassisted returns as soon as /readyz answers 200.
		if err := env.StartServerUnassisted(t.Context()); err != nil {
			t.Fatalf("round %d: starting clusters-apiserver: %v", round, err)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, env.ServerURL+"/apis/clusters.headlamp.dev/v1alpha1/clusters", http.NoBody)
		req.Header = headers.Clone()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("round %d: the first list after /readyz: %v", round, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("round %d: the first list after /readyz answered %d: %s", round, resp.StatusCode, body)
		}
		var list struct {
			Items []struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("round %d: %v: %s", round, err, body)
		}
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Metadata.Name)
		}
		for _, w := range want {
			if !slices.Contains(names, w) {
				t.Errorf("round %d: the first list after /readyz lacks %s: %v", round, w, names)
			}
		}
	}
}
