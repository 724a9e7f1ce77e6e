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

package app

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Credentials written into the test kubeconfig; none may ever be served.
var secrets = []string{
	"tok-3f9a1c7e5b2d4a68",
	"exec-env-secret-77d1",
	"-----BEGIN FAKE KEY-----",
	"cGVybWFuZW50LWNsaWVudC1rZXk=", // base64 of the key below
	"permanent-client-key",
	"basic-pass-9c2e",
}

// TestNoCredentialIsServed serialises every response a client can get about
// Clusters and checks that no credential from the source kubeconfig is in it.
func TestNoCredentialIsServed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	content := testKubeconfig("one", "two", "three", "four", "Bad:Ctx")
	content = strings.Replace(content, "    cluster: Bad:Ctx\n", "    cluster: missing\n", 1)
	writeFile(t, path, content)
	for _, s := range []string{"tok-3f9a1c7e5b2d4a68", "cGVybWFuZW50LWNsaWVudC1rZXk=", "exec-env-secret-77d1", "basic-pass-9c2e"} {
		if !strings.Contains(content, s) {
			t.Fatalf("test kubeconfig lacks %q", s)
		}
	}
	cfg := startServer(t, path)
	rc, err := rest.UnversionedRESTClientFor(withCodec(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	base := "/apis/clusters.headlamp.dev/v1alpha1/clusters"
	var bodies []string
	for _, accept := range []string{"application/json", "application/yaml", "application/json;as=Table;v=v1;g=meta.k8s.io", "application/vnd.kubernetes.protobuf"} {
		for _, p := range []string{base, base + "/one", base + "/two", base + "/three", base + "/four"} {
			raw, err := rc.Get().AbsPath(p).SetHeader("Accept", accept).DoRaw(ctx)
			if err != nil && !strings.Contains(accept, "protobuf") {
				t.Fatalf("GET %s as %s: %v", p, accept, err)
			}
			bodies = append(bodies, string(raw))
		}
	}
	// A watch's initial events.
	body, err := rc.Get().AbsPath(base).Param("watch", "true").Param("timeoutSeconds", "1").DoRaw(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	bodies = append(bodies, string(body))
	if !strings.Contains(strings.Join(bodies, ""), "InvalidKubeconfig") {
		t.Errorf("the bad context is not served as not ready")
	}
	for _, b := range bodies {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				t.Errorf("a response contains the credential %q", s)
			}
		}
		if strings.Contains(b, base64.StdEncoding.EncodeToString([]byte("tok-3f9a1c7e5b2d4a68"))) {
			t.Errorf("a response contains the base64 of a token")
		}
	}
}
