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

package kubeconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// write writes content to dir/name and returns the path.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func kubeconfig(clusterList, users, contexts string) string {
	return "apiVersion: v1\nkind: Config\nclusters:\n" + clusterList + "users:\n" + users + "contexts:\n" + contexts
}

func TestParseAccessConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "ca.crt", "CA FILE")
	write(t, dir, "client.crt", "CERT FILE")
	write(t, dir, "client.key", "KEY FILE")
	write(t, dir, "token", "file-token")

	type view struct {
		Host, ServerName, CAFile, CertFile, KeyFile, BearerToken, BearerTokenFile, ExecCommand, Proxy string
		CAData, CertData, KeyData                                                                     string
		Insecure                                                                                      bool
	}
	viewOf := func(c *rest.Config) view {
		v := view{
			Host: c.Host, ServerName: c.ServerName, CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
			BearerToken: c.BearerToken, BearerTokenFile: c.BearerTokenFile, Insecure: c.Insecure,
			CAData: string(c.CAData), CertData: string(c.CertData), KeyData: string(c.KeyData),
		}
		if c.ExecProvider != nil {
			v.ExecCommand = c.ExecProvider.Command
		}
		if c.Proxy != nil {
			u, err := c.Proxy(nil)
			if err == nil && u != nil {
				v.Proxy = u.String()
			}
		}
		return v
	}
	tests := []struct {
		name    string
		cluster string
		user    string
		want    view
	}{
		{
			name:    "token and CA data",
			cluster: "    server: https://a.example:6443\n    certificate-authority-data: Q0EgREFUQQ==\n",
			user:    "    token: secret-token\n",
			want:    view{Host: "https://a.example:6443", CAData: "CA DATA", BearerToken: "secret-token"},
		},
		{
			name:    "relative files resolve against the kubeconfig's directory",
			cluster: "    server: https://b.example\n    certificate-authority: ca.crt\n",
			user:    "    client-certificate: client.crt\n    client-key: client.key\n",
			want: view{Host: "https://b.example", CAFile: filepath.Join(dir, "ca.crt"),
				CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key")},
		},
		{
			name:    "client cert data",
			cluster: "    server: https://c.example\n",
			user:    "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n",
			want:    view{Host: "https://c.example", CertData: "CERT", KeyData: "KEY"},
		},
		{
			name:    "token file",
			cluster: "    server: https://d.example\n",
			user:    "    tokenFile: token\n",
			want:    view{Host: "https://d.example", BearerTokenFile: filepath.Join(dir, "token"), BearerToken: "file-token"},
		},
		{
			name:    "exec plugin",
			cluster: "    server: https://e.example\n",
			user:    "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: my-plugin\n      interactiveMode: Never\n      env:\n      - name: SECRET\n        value: hush\n",
			want:    view{Host: "https://e.example", ExecCommand: "my-plugin"},
		},
		{
			name:    "tls-server-name, proxy-url and insecure",
			cluster: "    server: https://f.example\n    tls-server-name: api.internal\n    proxy-url: http://proxy.example:3128\n    insecure-skip-tls-verify: true\n",
			user:    "    token: t\n",
			want:    view{Host: "https://f.example", ServerName: "api.internal", Proxy: "http://proxy.example:3128", Insecure: true, BearerToken: "t"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "config")
			data := kubeconfig("- name: c\n  cluster:\n"+tc.cluster, "- name: u\n  user:\n"+tc.user, "- name: ctx\n  context:\n    cluster: c\n    user: u\n")
			got, err := parse(path, []byte(data), 0, true)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			m := got.members["ctx"]
			if err := got.bad["ctx"]; err != nil {
				t.Fatalf("context rejected: %v", err)
			}
			cfg, err := m.Access.RestConfig()
			if err != nil {
				t.Fatal(err)
			}
			if m.Access.Config != nil || m.Access.Host != cfg.Host {
				t.Errorf("access: a configuration kept (%v), or host %q where it builds %q", m.Access.Config != nil, m.Access.Host, cfg.Host)
			}
			if diff := cmp.Diff(tc.want, viewOf(cfg)); diff != "" {
				t.Errorf("rest.Config (-want +got):\n%s", diff)
			}
			if m.Cluster.Spec.Server != tc.want.Host || m.Cluster.Spec.TLSServerName != tc.want.ServerName || m.Cluster.Spec.InsecureSkipTLSVerify != tc.want.Insecure {
				t.Errorf("spec = %+v", m.Cluster.Spec)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		data       string
		wantFile   string // substring of the whole-file error
		badContext string // context expected to be rejected
		wantCtx    string // substring of its error
	}{
		{name: "empty", data: "", wantFile: "empty"},
		{name: "not yaml", data: "clusters: [\n  - {", wantFile: "not a valid kubeconfig"},
		{
			name:     "quoted secret is not echoed",
			data:     "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: [\"super-secret-token\"]\n",
			wantFile: "not a valid kubeconfig",
		},
		{
			name:       "missing cluster",
			data:       kubeconfig("", "- name: u\n  user:\n    token: t\n", "- name: ctx\n  context:\n    cluster: nope\n    user: u\n"),
			badContext: "ctx", wantCtx: `context "ctx"`,
		},
		{
			name:       "missing cert file",
			data:       kubeconfig("- name: c\n  cluster:\n    server: https://x\n", "- name: u\n  user:\n    client-certificate: /does/not/exist\n    client-key: /does/not/exist\n", "- name: ctx\n  context:\n    cluster: c\n    user: u\n"),
			badContext: "ctx", wantCtx: "/does/not/exist",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse("/tmp/kc", []byte(tc.data), 0, true)
			if tc.wantFile != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantFile) {
					t.Fatalf("parse error = %v, want it to mention %q", err, tc.wantFile)
				}
				if strings.Contains(err.Error(), "super-secret-token") {
					t.Errorf("error echoes a credential: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			cerr := got.bad[tc.badContext]
			if cerr == nil || !strings.Contains(cerr.Error(), tc.wantCtx) {
				t.Fatalf("context error = %v, want it to mention %q", cerr, tc.wantCtx)
			}
			m := got.members[tc.badContext]
			if m.Access.Err == nil || m.Access.Err.Reason != clusters.ReasonInvalidKubeconfig {
				t.Errorf("bad context member Access.Err = %+v, want reason %s", m.Access.Err, clusters.ReasonInvalidKubeconfig)
			}
		})
	}
}

// TestBuildReadsNoTokenFile checks that a member's configuration, built
// when a transport is, has the token its file held when the kubeconfig
// was parsed, without reading the file again (client-go's transport reads
// it on its own): a token file that became unreadable, or a FIFO, does
// not fail or block the build.
func TestBuildReadsNoTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := write(t, dir, "token", "file-token")
	path := write(t, dir, "config", kubeconfig("- name: c\n  cluster:\n    server: https://a.example\n",
		"- name: u\n  user:\n    tokenFile: token\n", "- name: x\n  context:\n    cluster: c\n    user: u\n"))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parse(path, data, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(token); err != nil {
		t.Fatal(err)
	}
	m := p.members["x"]
	cfg, err := m.Access.RestConfig()
	if err != nil {
		t.Fatalf("building with the token file gone: %v", err)
	}
	if cfg.BearerToken != "file-token" || cfg.BearerTokenFile != token {
		t.Errorf("token %q from file %q; want the parsed token and the file, for the transport to read again", cfg.BearerToken, cfg.BearerTokenFile)
	}
	if p.cfg.AuthInfos["u"].Token != "" {
		t.Errorf("the decoded user entry was written to: token %q", p.cfg.AuthInfos["u"].Token)
	}
}

// TestBuildWhileTheNextVersionLoads builds the members' configurations of
// one version of a file while the next versions, which reuse its entries,
// are parsed: with -race, a write into a shared entry fails it.
func TestBuildWhileTheNextVersionLoads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	first, err := parse(path, benchFile(50, -1, ""), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				for name := range first.members {
					m := first.members[name]
					if _, err := m.Access.RestConfig(); err != nil {
						t.Errorf("context %s: %v", name, err)
						return
					}
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	prev := first
	for i := range 20 {
		next, err := parseReusing(path, benchFile(50, i%50, fmt.Sprintf("https://10.0.0.%d:6443", i)), 0, true, prev)
		if err != nil {
			t.Fatal(err)
		}
		prev = next
	}
	close(done)
	wg.Wait()
}
