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
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// kubectlStyle is a file as kubectl config writes it: lists at the first
// column, keys sorted, preferences as {}.
const kubectlStyle = `apiVersion: v1
clusters:
- cluster:
    certificate-authority: ca.crt
    server: https://one.example:6443
  name: one
- cluster:
    insecure-skip-tls-verify: true
    server: https://two.example
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: two
  name: two
contexts:
- context:
    cluster: one
    namespace: default
    user: one
  name: one
- context:
    cluster: two
    user: two
  name: two
current-context: one
kind: Config
preferences: {}
users:
- name: one
  user:
    client-certificate: certs/one.crt
    client-key: certs/one.key
- name: two
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./get-token
      args:
      - --cluster
      - "two"
      interactiveMode: Never
`

// TestSplitDecodesAsWhole checks that every file the cutting accepts
// decodes to exactly what decoding it whole gives, paths resolved, and
// that the files it must not cut are refused.
func TestSplitDecodesAsWhole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	tests := []struct {
		name string
		data string
		cut  bool
	}{
		{"kubectl style", kubectlStyle, true},
		{"indented lists, comments and blank lines", `# fleet
apiVersion: v1
kind: Config
clusters:
  # the first
  - name: one
    cluster:
      server: "https://one.example"

  - name: two # trailing
    cluster:
      server: 'https://two.example'
      certificate-authority-data: Q0E=
users:
  - name: one
    user:
      token: |
        abc
      # in the block scalar? no: a comment
  - name: two
    user: {token: flow-in-an-item}
contexts:
  - {name: one, context: {cluster: one, user: one}}
  - name: two
    context:
      cluster: two
      user: two
current-context: two
`, true},
		{"lists null and empty", "apiVersion: v1\nkind: Config\nclusters: []\nusers:\ncontexts: null\n", true},
		{"an item spread over a multi-line plain scalar", "clusters:\n- name: one\n  cluster:\n    server: https://one.example\n      /path\ncontexts:\n- name: one\n  context:\n    cluster: one\n", true},
		{"a top-level list other than the three", "apiVersion: v1\nkind: Config\nextensions:\n- name: x\n  extension: {a: b}\nclusters:\n- name: one\n  cluster: {server: https://one.example}\n", true},
		{"JSON", `{"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "one", "cluster": {"server": "https://one.example"}}]}`, false},
		{"anchors and aliases", "clusters:\n- name: one\n  cluster: &c\n    server: https://one.example\n- name: two\n  cluster: *c\n", false},
		{"a merge key", "clusters:\n- name: one\n  cluster: &c {server: https://one.example}\n- name: two\n  cluster:\n    <<: *c\n", false},
		{"two documents", "apiVersion: v1\nkind: Config\n---\nclusters: []\n", false},
		{"a directive", "%YAML 1.2\n---\napiVersion: v1\n", false},
		{"CRLF", "apiVersion: v1\r\nkind: Config\r\n", false},
		{"a key twice", "clusters:\n- name: one\n  cluster: {server: https://a}\nclusters:\n- name: two\n  cluster: {server: https://b}\n", false},
		{"a quoted key", "\"clusters\":\n- name: one\n  cluster: {server: https://a}\n", false},
		{"an item less indented than the first", "clusters:\n  - name: one\n    cluster: {server: https://a}\n - name: two\n   cluster: {server: https://b}\n", false},
		{"a key at the items' indentation", "clusters:\n  - name: one\n  cluster: {server: https://a}\n", false},
		// A quoted scalar goes on across lines whatever their indentation:
		// here it holds what looks like a users list, which must not give
		// the context a token that decoding the whole file does not see.
		{"a quoted scalar hiding a list", `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: https://prod.example}
contexts:
- name: prod
  context: {cluster: prod, user: admin}
current-context: "prod
users:
- name: admin
  user: {token: T}
preferences: {}"
`, false},
		{"a single-quoted scalar hiding a list", "current-context: 'a\nclusters:\n- name: x\n  cluster: {server: https://x}\nb'\n", false},
		{"a flow mapping across a list", "preferences: {colors: true,\nclusters:\n- name: a\n  cluster: {server: https://a}\nx: y}\n", false},
		{"a quoted scalar closed on its line", "current-context: \"a # not a comment\" # a comment \"\nclusters:\n- name: a\n  cluster: {server: https://a}\n", true},
		{"escaped quotes", "current-context: \"a\\\"b\"\nkind: 'it''s'\nclusters:\n- name: a\n  cluster: {server: https://a}\n", true},
		{"invalid UTF-8 in the comment of a list's line", "clusters: # caf\xe9\n- name: a\n  cluster: {server: https://a}\n", true},
		{"a control character in a comment before the first item", "clusters:\n# \x01\n- name: a\n  cluster: {server: https://a}\n", true},
		// YAML breaks lines at NEL, LS and PS too, where the cutter would not.
		{"LS in an item", "contexts:\n- name: x\n  context:\n    user: u\u2028users: []\n", false},
		{"PS in an item", "contexts:\n- name: x\n  context:\n    user: u\u2029users: []\n", false},
		{"NEL in an item", "contexts:\n- name: x\n  context:\n    user: u\u0085users: []\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := split([]byte(tc.data))
			if ok != tc.cut {
				t.Fatalf("split: ok = %v, want %v", ok, tc.cut)
			}
			whole, wholeErr := loadWhole(path, []byte(tc.data))
			if !ok {
				return
			}
			cut, _, _, err := loadBlocks(path, b, nil)
			if wholeErr != nil {
				if err == nil {
					t.Fatalf("decoded whole: %v; cut: no error", wholeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("cut: %v; decoded whole: no error", err)
			}
			if diff := cmp.Diff(whole, cut); diff != "" {
				t.Errorf("cut differs from whole (-whole +cut):\n%s", diff)
			}
		})
	}
}

// TestParseLeavesSharedEntriesAlone checks that building the members of
// two contexts that share an exec-plugin user writes nothing into the
// decoded user entry, which the next version of the file reuses and other
// contexts read: clientcmd writes the install hint and the cluster's exec
// extension into the user entry it is given.
func TestParseLeavesSharedEntriesAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	data := []byte(`apiVersion: v1
kind: Config
clusters:
- name: a
  cluster:
    server: https://a.example
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: a}
- name: b
  cluster:
    server: https://b.example
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: b}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/true
      provideClusterInfo: true
      interactiveMode: Never
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
`)
	p, err := parse(path, data, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	exec := p.cfg.AuthInfos["u"].Exec
	if exec.Config != nil || exec.InstallHint != "" {
		t.Errorf("the decoded user entry was written to: config %v, install hint %q", exec.Config, exec.InstallHint)
	}
	// The proxy and the prober build a member's configuration at the same
	// time (-race tells).
	var wg sync.WaitGroup
	for name, m := range p.members {
		for range 4 {
			wg.Go(func() {
				cfg, err := m.Access.RestConfig()
				if err != nil {
					t.Errorf("context %s: %v", name, err)
					return
				}
				got := cfg.ExecProvider
				if got == nil || got == exec {
					t.Errorf("context %s: exec provider %p, the decoded entry's %p", name, got, exec)
					return
				}
				if u, ok := got.Config.(*runtime.Unknown); !ok || !strings.Contains(string(u.Raw), `"audience":"`+name+`"`) {
					t.Errorf("context %s: the exec plugin gets cluster config %v", name, got.Config)
				}
			})
		}
	}
	wg.Wait()
	if exec.Config != nil || exec.InstallHint != "" {
		t.Errorf("building the members' configurations wrote to the decoded user entry: config %v, install hint %q", exec.Config, exec.InstallHint)
	}
}

// TestSplitRefusesDuplicates checks that a name twice in one list, which
// decoding whole refuses, is not accepted by the cut path either.
func TestSplitRefusesDuplicates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	for _, data := range []string{
		"clusters:\n- name: one\n  cluster: {server: https://a}\n- name: one\n  cluster: {server: https://b}\n",
		"clusters:\n- name: one\n  cluster: {server: https://a}\n- name: one\n  cluster: {server: https://a}\n",
		"users:\n- name: u\n  user: {token: a}\n- name: u\n  user: {token: b}\n",
	} {
		if _, err := loadWhole(path, []byte(data)); err == nil {
			t.Fatalf("decoding whole accepts %q", data)
		}
		b, ok := split([]byte(data))
		if !ok {
			t.Fatalf("split refuses %q", data)
		}
		if _, _, _, err := loadBlocks(path, b, nil); err == nil {
			t.Errorf("the cut path accepts %q", data)
		}
		if _, err := parse(path, []byte(data), 0, true); err == nil {
			t.Errorf("parse accepts %q", data)
		}
		// And when the previous version had the entry once, and its
		// item is reused for one of the two.
		first := strings.Index(data, "- name:")
		once := data[:first+1+strings.Index(data[first+1:], "- name:")]
		prev, err := parse(path, []byte(once), 0, true)
		if err != nil {
			t.Fatalf("%q: %v", once, err)
		}
		if prev.items == nil || len(prev.cfg.Clusters)+len(prev.cfg.AuthInfos) != 1 {
			t.Fatalf("%q was not cut to one entry", once)
		}
		if _, err := parseReusing(path, []byte(data), 0, true, prev); err == nil {
			t.Errorf("parse after %q accepts %q", once, data)
		}
	}
}

// TestParseReusesUnchangedItems edits one context of a large file and
// checks that only its items are decoded again and only its member is
// rebuilt, and that the result equals a parse from scratch.
func TestParseReusesUnchangedItems(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	const n = 200
	file := func(server string) []byte {
		cfg := clientcmdapi.NewConfig()
		for i := range n {
			name := fmt.Sprintf("c%03d", i)
			s := "https://127.0.0.1:6443"
			if i == 42 {
				s = server
			}
			cfg.Clusters[name] = &clientcmdapi.Cluster{Server: s, CertificateAuthorityData: []byte("CA")}
			cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "token-" + name}
			cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		}
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	first, err := parse(path, file("https://localhost:6443"), 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if first.items == nil || len(first.items.lists[0])+len(first.items.lists[1])+len(first.items.lists[2]) != 3*n {
		t.Fatalf("the first parse was not cut: %v", first.items)
	}
	data := file("https://other:6443")
	second, err := parseReusing(path, data, 0, true, first)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range second.members {
		same := m.Cluster == first.members[name].Cluster
		if same != (name != "c042") {
			t.Errorf("context %s: member reused = %v", name, same)
		}
		if second.cfg.Clusters[name] == first.cfg.Clusters[name] != (name != "c042") {
			t.Errorf("cluster %s: decoded object reused = %v", name, name == "c042")
		}
	}
	if got := second.members["c042"].Cluster.Spec.Server; got != "https://other:6443" {
		t.Errorf("c042 serves %q", got)
	}
	scratch, err := parse(path, data, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := loadWhole(path, data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(whole, second.cfg); diff != "" {
		t.Errorf("the reusing parse differs from decoding whole (-whole +reusing):\n%s", diff)
	}
	if diff := cmp.Diff(scratch.cfg, second.cfg); diff != "" {
		t.Errorf("the reusing parse differs from a fresh one:\n%s", diff)
	}
	if !strings.Contains(string(data), "- cluster:") {
		t.Fatalf("clientcmd.Write no longer writes lists at the first column:\n%.200s", data)
	}
}

// TestSplitMutations cuts every variant of two files with one line
// removed, indented or outdented, and checks that whenever the cut path
// accepts a variant, decoding it whole accepts it too and gives the same.
func TestSplitMutations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	indented := strings.NewReplacer("\n- ", "\n  - ", "\n  ", "\n    ").Replace(kubectlStyle)
	var cut int
	for _, base := range []string{kubectlStyle, indented} {
		lines := strings.SplitAfter(base, "\n")
		for i := range lines {
			for _, edit := range []func(string) string{
				func(string) string { return "" },
				func(l string) string { return " " + l },
				func(l string) string { return "  " + l },
				func(l string) string { return strings.TrimPrefix(l, " ") },
				func(l string) string { return strings.TrimPrefix(l, "  ") },
				func(l string) string { return l + l },
				func(l string) string { return "# " + l },
			} {
				variant := strings.Join(lines[:i], "") + edit(lines[i]) + strings.Join(lines[i+1:], "")
				b, ok := split([]byte(variant))
				if !ok {
					continue
				}
				got, _, _, err := loadBlocks(path, b, nil)
				if err != nil {
					continue // decoded whole instead
				}
				cut++
				want, err := loadWhole(path, []byte(variant))
				if err != nil {
					t.Errorf("the cut path accepts what decoding whole refuses (%v):\n%s", err, variant)
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("cut differs from whole (-whole +cut):\n%s\nfor:\n%s", diff, variant)
				}
			}
		}
	}
	if cut == 0 {
		t.Fatal("no variant was cut")
	}
	t.Logf("%d variants cut and compared", cut)
}

// sameMembers checks that got has the members and failures of want, the
// same file parsed from scratch; what is a version names it in messages.
func sameMembers(t *testing.T, what string, got, want *parsed) {
	t.Helper()
	if len(got.members) != len(want.members) {
		t.Errorf("%s: %d members, want %d", what, len(got.members), len(want.members))
	}
	for name := range want.members {
		w := want.members[name]
		g, ok := got.members[name]
		if !ok {
			t.Errorf("%s: no member for context %s", what, name)
			continue
		}
		if diff := cmp.Diff(w.Cluster, g.Cluster); diff != "" {
			t.Errorf("%s, context %s: Cluster differs (-fresh +reusing):\n%s", what, name, diff)
		}
		if g.Access.Hash != w.Access.Hash || (g.Access.Err == nil) != (w.Access.Err == nil) || g.Origin != w.Origin || g.Access.Via != w.Access.Via {
			t.Errorf("%s, context %s: access %+v, want %+v", what, name, g.Access, w.Access)
		}
		if g.Access.Configured() != w.Access.Configured() || g.Access.Server() != w.Access.Server() {
			t.Errorf("%s, context %s: client configuration differs", what, name)
			continue
		}
		if !w.Access.Configured() {
			continue
		}
		gc, gerr := g.Access.RestConfig()
		wc, werr := w.Access.RestConfig()
		if gerr != nil || werr != nil || gc.Host != wc.Host || gc.BearerToken != wc.BearerToken || !bytes.Equal(gc.CAData, wc.CAData) {
			t.Errorf("%s, context %s: client configuration differs (%v, %v)", what, name, gerr, werr)
		}
	}
	if len(got.bad) != len(want.bad) {
		t.Errorf("%s: failures %v, want %v", what, got.bad, want.bad)
	}
	for name := range want.bad {
		if got.bad[name] == nil {
			t.Errorf("%s: context %s does not fail", what, name)
		}
	}
}

// TestLoadMatchesParse loads versions of a file as the source does,
// cutting it as it streams in blocks and each version reusing the last,
// and checks that each gives what parsing its contents from scratch gives,
// with the sum of those contents: lines longer than a block and lines
// across blocks, a file of whole blocks with no final newline, files that
// are not cut (flow style, CRLF), an edit, and an empty file.
func TestLoadMatchesParse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	// A CA line longer than two blocks, in the first cluster only.
	long := strings.Repeat("TE9OR0xPTkcx", 2*blockSize/12+100)
	block := func(n int, server string) []byte {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
		for i := range n {
			ca := ""
			if i == 0 {
				ca = "    certificate-authority-data: " + long + "\n"
			}
			fmt.Fprintf(&b, "- name: c%d\n  cluster:\n    server: %s/%d\n%s", i, server, i, ca)
		}
		b.WriteString("users:\n")
		for i := range n {
			fmt.Fprintf(&b, "- name: u%d\n  user:\n    token: token-%d-%s\n", i, i, strings.Repeat("t", i%300))
		}
		b.WriteString("contexts:\n")
		for i := range n {
			fmt.Fprintf(&b, "- name: x%d\n  context:\n    cluster: c%d\n    user: u%d\n", i, i, i)
		}
		return []byte(b.String())
	}
	whole := block(800, "https://a")
	// Padded with a comment to whole blocks, with no newline at the end.
	exact := append(block(700, "https://a"), "# "...)
	blocks := len(exact)/blockSize + 1
	exact = append(exact, bytes.Repeat([]byte("#"), blocks*blockSize-len(exact))...)
	// A flow collection across lines: decoded whole.
	flow := []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c0,\n  cluster: {server: https://f, certificate-authority-data: " + long + "}}]\n" +
		"users: [{name: u0, user: {token: t}}]\ncontexts: [{name: x0, context: {cluster: c0, user: u0}}]\n")
	versions := []struct {
		name string
		data []byte
		cut  bool
	}{
		{"block style", whole, true},
		{"one server changed", bytes.Replace(whole, []byte("https://a/400\n"), []byte("https://b/400\n"), 1), true},
		{"whole blocks, no final newline", exact, true},
		{"flow style", flow, false},
		{"block style again", whole, true},
		{"CRLF", bytes.ReplaceAll(whole, []byte("\n"), []byte("\r\n")), false},
		{"an edit after CRLF", block(800, "https://c"), true},
		// Past the first blocks, found by the checks of a block, not of
		// a line: decoded whole.
		{"an anchor and its alias", bytes.Replace(bytes.Replace(whole, []byte("    token: token-400-"), []byte("    token: &t token-400-"), 1),
			[]byte("    token: token-401-"+strings.Repeat("t", 101)+"\n"), []byte("    token: *t\n"), 1), false},
		{"block style after an anchor", whole, true},
		{"a NEL in a quoted token", bytes.Replace(whole, []byte("    token: token-500-"+strings.Repeat("t", 200)+"\n"),
			[]byte("    token: \"token-500-\u0085"+strings.Repeat("t", 200)+"\"\n"), 1), false},
	}
	if len(exact) != blocks*blockSize || exact[len(exact)-1] == '\n' {
		t.Fatalf("the padded file has %d bytes", len(exact))
	}
	f := &file{path: path}
	for _, v := range versions {
		if err := os.WriteFile(path, v.data, 0o600); err != nil {
			t.Fatal(err)
		}
		id := stat(t, path)
		if f.last != nil && f.last.items != nil && v.cut {
			// The cut path checks that the file is as stated once read.
			if _, _, readErr, _ := f.load(fileStat{}, 0, true); !errors.Is(readErr, errChanging) {
				t.Errorf("%s, loaded as of another stat: %v, want %v", v.name, readErr, errChanging)
			}
		}
		got, sum, readErr, parseErr := f.load(id, 0, true)
		if readErr != nil || parseErr != nil {
			t.Fatalf("%s: %v, %v", v.name, readErr, parseErr)
		}
		if want := sumOf(v.data); sum != want {
			t.Errorf("%s: sum %v, want %v", v.name, sum, want)
		}
		if (got.items != nil) != v.cut {
			t.Errorf("%s: cut = %v, want %v", v.name, got.items != nil, v.cut)
		}
		want, err := parse(path, v.data, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		sameMembers(t, v.name, got, want)
		f.last = got
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, readErr, parseErr := f.load(stat(t, path), 0, true); readErr != nil || !errors.Is(parseErr, errEmpty) {
		t.Errorf("an empty file: %v, %v; want %v", readErr, parseErr, errEmpty)
	}
}

func stat(t *testing.T, path string) fileStat {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return statOf(info)
}

// TestStaleSkipsTouchedFiles: a file touched, or replaced by the same
// contents, is hashed and found unchanged before it is read again, whether
// its last version was decoded whole (here, for its CRLF line ends) or cut
// as it streamed, and an edit that keeps the size is not.
func TestStaleSkipsTouchedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	contents := kubeconfig("- name: c\n  cluster:\n    server: https://a\n", "", "- name: c\n  context:\n    cluster: c\n")
	touch := func(path string) {
		t.Helper()
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	relink := func(path, contents string) {
		t.Helper()
		if err := os.Rename(write(t, dir, filepath.Base(path)+".new", contents), path); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("decoded whole", func(t *testing.T) {
		crlf := strings.ReplaceAll(contents, "\n", "\r\n")
		path := write(t, dir, "crlf", crlf)
		f := &file{path: path}
		id, p, sum := staleLoad(t, f)
		if p.items != nil {
			t.Fatal("a file with CRLF line ends was cut")
		}
		f.stat, f.sum, f.last = id, sum, p
		touch(path)
		if _, stale, err := f.stale(); err != nil || stale {
			t.Errorf("touched: stale %v, %v; want not stale", stale, err)
		}
		relink(path, crlf)
		if _, stale, err := f.stale(); err != nil || stale {
			t.Errorf("replaced by the same contents: stale %v, %v; want not stale", stale, err)
		}
		write(t, dir, "crlf", strings.Replace(crlf, "https://a", "https://b", 1))
		if _, stale, err := f.stale(); err != nil || !stale {
			t.Errorf("edited, same size: stale %v, %v; want stale", stale, err)
		}
	})

	t.Run("cut", func(t *testing.T) {
		path := write(t, dir, "cut", contents)
		inv := inventory.New()
		src := New(inv, []string{path}, time.Hour, nil)
		src.Sync()
		server := func() string {
			t.Helper()
			c, ok := inv.Get("c")
			if !ok {
				t.Fatal("context c is not served")
			}
			return c.Spec.Server
		}
		if got := server(); got != "https://a" {
			t.Fatalf("server %q", got)
		}
		rv, last := inv.ResourceVersion(), src.files[path].last
		if last == nil || last.items == nil {
			t.Fatal("the file was not cut")
		}
		touch(path)
		if _, stale, err := src.files[path].stale(); err != nil || stale {
			t.Errorf("touched: stale %v, %v; want not stale", stale, err)
		}
		src.Sync()
		relink(path, contents)
		if _, stale, err := src.files[path].stale(); err != nil || stale {
			t.Errorf("replaced by the same contents: stale %v, %v; want not stale", stale, err)
		}
		src.Sync()
		if inv.ResourceVersion() != rv || src.files[path].last != last {
			t.Errorf("touched, then replaced by the same contents: loaded or published again")
		}
		write(t, dir, "cut", strings.Replace(contents, "https://a", "https://b", 1))
		src.Sync()
		if got := server(); got != "https://b" || inv.ResourceVersion() == rv {
			t.Errorf("edited, same size: server %q, resourceVersion %s then %s", got, rv, inv.ResourceVersion())
		}
	})
}

// TestLineSplitter checks that lines handed over from blocks are the
// lines of the whole, for lines shorter and longer than a block and ends
// at and around block boundaries.
func TestLineSplitter(t *testing.T) {
	t.Parallel()
	var data []byte
	for i, n := range []int{0, 1, 5, blockSize - 3, blockSize, 2 * blockSize, 7, blockSize + 1, 0, 3} {
		data = append(data, bytes.Repeat([]byte{byte('a' + i)}, n)...)
		data = append(data, '\n')
	}
	for _, end := range [][]byte{nil, []byte("last line without a newline")} {
		data := append(bytes.Clone(data), end...)
		var want, got []string
		eachLine(data, func(line []byte) bool { want = append(want, string(line)); return true })
		ls := lineSplitter{fn: func(line []byte, _ bool) bool { got = append(got, string(line)); return true }}
		if err := readBlocks(bytes.NewReader(data), newSummer(), ls.block); err != nil {
			t.Fatal(err)
		}
		ls.end()
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("line %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
			}
		}
	}
}

// staleLoad runs a sync's stale and load on f, which must find the file
// stale and load it without error, and returns the file's stat, the
// version loaded and its sum, for the caller to record or not.
func staleLoad(t *testing.T, f *file) (fileStat, *parsed, fileSum) {
	t.Helper()
	id, stale, err := f.stale()
	if err != nil || !stale {
		t.Fatalf("%s: stale %v, %v; want stale", f.path, stale, err)
	}
	p, sum, readErr, parseErr := f.load(id, 0, true)
	if readErr != nil || parseErr != nil {
		t.Fatalf("%s: %v, %v", f.path, readErr, parseErr)
	}
	return id, p, sum
}

// TestLineSplitterChecked checks that no line the splitter hands over as
// checked holds what hasOtherBreak or hasAnchorOrAlias find, wherever it
// is: at the start or end of a line, of a block, or a multi-byte break
// across two blocks; with lines that end at a block's end, and lines that
// do not; and that lines of a clean block are checked.
func TestLineSplitterChecked(t *testing.T) {
	t.Parallel()
	for _, width := range []int{100, 128} { // 128 divides blockSize
		line := append(bytes.Repeat([]byte{'x'}, width-1), '\n')
		var clean []byte
		for len(clean) < 3*blockSize {
			clean = append(clean, line...)
		}
		for _, token := range []string{"\r", "\u0085", "\u2028", "\u2029", "&a", "*a", "- &a", ": *a"} {
			for _, at := range []int{0, 1, width - 1, width, width + 1, blockSize - 3, blockSize - 2, blockSize - 1, blockSize, blockSize + 1, blockSize + width, 2*blockSize - 1, 2 * blockSize} {
				// The token replaces bytes, so that with lines of 128
				// bytes the lines end at a block's end, but where the
				// token takes the place of a newline.
				data := bytes.Clone(clean)
				copy(data[at:], token)
				var checked, all int
				ls := lineSplitter{fn: func(l []byte, ok bool) bool {
					all++
					if !ok {
						return true
					}
					checked++
					if hasOtherBreak(l) || hasAnchorOrAlias(l) {
						t.Errorf("lines of %d, %q at %d: line %q handed over as checked", width, token, at, l)
					}
					return true
				}}
				if err := readBlocks(bytes.NewReader(data), newSummer(), ls.block); err != nil {
					t.Fatal(err)
				}
				ls.end()
				// One or two of the three or four blocks hold the token:
				// the lines of the others are checked, but for a line
				// across two blocks.
				if checked < all/2 {
					t.Errorf("lines of %d, %q at %d: %d of %d lines checked", width, token, at, checked, all)
				}
			}
		}
	}
}

// TestLoadSumsWhatItReads checks that the sum load returns is that of the
// contents it parsed, not of what stale hashed before: a file edited in
// place between the two, its size and modification time kept, would
// otherwise be recorded with the sum of the version before, and served as
// the later one when it goes back to that version.
func TestLoadSumsWhatItReads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(server string) string {
		return kubeconfig("- name: c\n  cluster:\n    server: https://"+server+"\n", "", "- name: c\n  context:\n    cluster: c\n")
	}
	path := write(t, dir, "config", version("a"))
	f := &file{path: path}
	id, p, sum := staleLoad(t, f)
	f.stat, f.sum, f.last = id, sum, p
	if f.last.items == nil {
		t.Fatal("the file was not cut")
	}
	// Stale hashes B; then C is written in place, with B's size and
	// modification time, before load reads the file.
	write(t, dir, "config", version("b"))
	id, stale, err := f.stale()
	if err != nil || !stale {
		t.Fatalf("edited: stale %v, %v", stale, err)
	}
	write(t, dir, "config", version("c"))
	mtime := time.Unix(0, id.mtime)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	p, sum, readErr, parseErr := f.load(id, 0, true)
	if readErr != nil || parseErr != nil {
		t.Fatal(readErr, parseErr)
	}
	if got := p.members["c"].Cluster.Spec.Server; got != "https://c" || sum != sumOf([]byte(version("c"))) {
		t.Fatalf("loaded server %q, sum %v; want https://c and the sum of what was read", got, sum)
	}
	f.stat, f.sum, f.last = id, sum, p
	// Back to B, which stale hashed but load never read.
	write(t, dir, "config", version("b"))
	if _, stale, err := f.stale(); err != nil || !stale {
		t.Errorf("back to the version stale hashed before: stale %v, %v; want stale", stale, err)
	}
}

// benchFile is a kubeconfig of n contexts, each with its own cluster and
// user, certificate data inline, as make bench's scenario 5 writes it;
// context changed points at server.
func benchFile(n, changed int, server string) []byte {
	var b strings.Builder
	ca := strings.Repeat("Q0FDQUNB", 190)   // about a CA certificate, base64
	cert := strings.Repeat("Q0VSVENF", 180) // a client certificate
	key := strings.Repeat("S0VZS0VZ", 300)  // a client key
	b.WriteString("apiVersion: v1\nkind: Config\ncurrent-context: bench-00000\nclusters:\n")
	for i := range n {
		s := "https://127.0.0.1:6443"
		if i == changed {
			s = server
		}
		fmt.Fprintf(&b, "- name: bench-%05d\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", i, s, ca)
	}
	b.WriteString("users:\n")
	for i := range n {
		fmt.Fprintf(&b, "- name: bench-%05d\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n", i, cert, key)
	}
	b.WriteString("contexts:\n")
	for i := range n {
		fmt.Fprintf(&b, "- name: bench-%05d\n  context:\n    cluster: bench-%05d\n    user: bench-%05d\n", i, i, i)
	}
	return []byte(b.String())
}

// BenchmarkParseChange measures parsing a 10,000-context file after one
// of its contexts changed.
func BenchmarkParseChange(b *testing.B) {
	path := filepath.Join(b.TempDir(), "config")
	prev, err := parse(path, benchFile(10000, -1, ""), 0, true)
	if err != nil {
		b.Fatal(err)
	}
	files := [][]byte{benchFile(10000, 42, "https://localhost:6443"), benchFile(10000, 42, "https://127.0.0.2:6443")}
	b.SetBytes(int64(len(files[0])))
	b.ResetTimer()
	for i := range b.N {
		if prev, err = parseReusing(path, files[i%2], 0, true, prev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCold measures parsing a 10,000-context file from scratch.
func BenchmarkParseCold(b *testing.B) {
	path := filepath.Join(b.TempDir(), "config")
	data := benchFile(10000, -1, "")
	b.SetBytes(int64(len(data)))
	for range b.N {
		if _, err := parse(path, data, 0, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSumFile checks that hashing a file as it streams gives what hashing
// its contents in memory gives, so that polling tells a change.
func TestSumFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, size := range []int{0, 1, 127, 128, 4096, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1 << 20} {
		data := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", size/36+1)[:size])
		p := write(t, dir, fmt.Sprint(size), string(data))
		got, err := sumFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := sumOf(data); got != want {
			t.Errorf("%d bytes: sumFile %v, sumOf %v", size, got, want)
		}
	}
	if _, err := sumFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing file")
	}
}

// BenchmarkSyncChange measures what a change of one context of a
// 10,000-context file costs from the read of the file to the inventory's
// new version: read, parse, members, and the inventory's replacement.
func BenchmarkSyncChange(b *testing.B) {
	path := filepath.Join(b.TempDir(), "config")
	files := [][]byte{benchFile(10000, 42, "https://localhost:6443"), benchFile(10000, 42, "https://127.0.0.2:6443")}
	if err := os.WriteFile(path, files[1], 0o600); err != nil {
		b.Fatal(err)
	}
	inv := inventory.New()
	src := New(inv, []string{path}, time.Hour, nil)
	src.Sync()
	b.SetBytes(int64(len(files[0])))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := os.WriteFile(path, files[i%2], 0o600); err != nil {
			b.Fatal(err)
		}
		rv := inv.ResourceVersion()
		b.StartTimer()
		src.Sync()
		if inv.ResourceVersion() == rv {
			b.Fatal("no change published")
		}
	}
}

// TestParseReusingMatchesFresh parses a sequence of versions of a file,
// each from the one before, and checks that every version gives the same
// members and failures as parsing it from scratch: entries edited, added,
// removed, renamed, moved, shared by two contexts, referenced before they
// exist, and contexts that fail and then work again.
func TestParseReusingMatchesFresh(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	type entry struct{ name, a, b string } // cluster: server; user: token; context: cluster, user
	file := func(clusters, users, contexts []entry) []byte {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
		for _, c := range clusters {
			fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n", c.name, c.a)
		}
		b.WriteString("users:\n")
		for _, u := range users {
			fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", u.name, u.a)
		}
		b.WriteString("contexts:\n")
		for _, c := range contexts {
			fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", c.name, c.a, c.b)
		}
		return []byte(b.String())
	}
	cl := []entry{{"c1", "https://one", ""}, {"c2", "https://two", ""}, {"c3", "https://three", ""}}
	us := []entry{{"u1", "t1", ""}, {"u2", "t2", ""}, {"u3", "t3", ""}}
	cx := []entry{{"x1", "c1", "u1"}, {"x2", "c2", "u2"}, {"x3", "c3", "u3"}, {"x4", "c2", "u1"}, {"x5", "c9", "u9"}}
	with := func(es []entry, i int, e entry) []entry {
		out := append([]entry(nil), es...)
		out[i] = e
		return out
	}
	without := func(es []entry, i int) []entry {
		return append(append([]entry(nil), es[:i]...), es[i+1:]...)
	}
	versions := [][]byte{
		file(cl, us, cx),
		file(with(cl, 1, entry{"c2", "https://two-b", ""}), us, cx),      // a cluster two contexts share
		file(without(cl, 0), us, cx),                                     // a cluster removed: x1 fails
		file(cl, us, cx),                                                 // and back
		file(append([]entry{{"c9", "https://nine", ""}}, cl...), us, cx), // x5's cluster appears, first
		file(append([]entry{{"c9", "https://nine", ""}}, cl...), append(us, entry{"u9", "t9", ""}), cx), // and its user
		file(cl, with(us, 2, entry{"u3", "t3-b", ""}), cx),                                              // a token changed
		file(cl, us, with(cx, 0, entry{"x1", "c2", "u1"})),                                              // a context points elsewhere
		file(cl, us, with(cx, 0, entry{"y1", "c1", "u1"})),                                              // a context renamed
		file([]entry{cl[2], cl[0], cl[1]}, us, []entry{cx[4], cx[3], cx[2], cx[1], cx[0]}),              // moved
		file(cl, us, append(cx, entry{"x6", "c1", "u2"})),                                               // a context added
		file(cl, us, without(cx, 1)),                                                                    // and one removed
		file(with(cl, 2, entry{"c3", "", ""}), us, cx),                                                  // x3 fails: no server
		file(cl, us, cx), // and works again
	}
	// Entries the rest of the file defines, in flow style, that a later
	// version drops or changes: they are not list items.
	flow := func(users, contexts string) []byte {
		return []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://one\n" +
			"users: " + users + "\ncontexts:" + contexts + "\n")
	}
	const x1 = "\n- name: x1\n  context:\n    cluster: c1\n    user: u1"
	versions = append(versions,
		flow("[{name: u1, user: {token: old}}]", x1),
		flow("[]", x1), // the user and its token gone
		flow("[{name: u1, user: {token: new}}]", x1),
		flow("[{name: u1, user: {token: new}}]", " [{name: x1, context: {cluster: c1, user: u1}}]"),
		flow("[{name: u1, user: {token: new}}]", " []"), // the context gone
		file(cl, us, cx),
	)
	var prev *parsed
	for i, data := range versions {
		got, err := parseReusing(path, data, 0, true, prev)
		if err != nil {
			t.Fatalf("version %d: %v", i, err)
		}
		if got.items == nil {
			t.Fatalf("version %d was not cut", i)
		}
		want, err := parse(path, data, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		sameMembers(t, fmt.Sprintf("version %d", i), got, want)
		prev = got
	}
}
