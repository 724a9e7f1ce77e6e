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
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// contexts returns a kubeconfig with one context per name, each pointing at
// https://<name>.<server suffix>.
func contexts(suffix string, names ...string) string {
	var clusterList, users, ctxs strings.Builder
	for _, n := range names {
		fmt.Fprintf(&clusterList, "- name: %s\n  cluster:\n    server: https://%s.%s\n", n, n, suffix)
		fmt.Fprintf(&users, "- name: %s\n  user:\n    token: token-%s\n", n, n)
		fmt.Fprintf(&ctxs, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", n, n, n)
	}
	return kubeconfig(clusterList.String(), users.String(), ctxs.String())
}

// servers returns name -> spec.server of everything in the inventory.
func servers(inv *inventory.Inventory) map[string]string {
	objs, _ := inv.List()
	out := map[string]string{}
	for _, o := range objs {
		out[o.Name] = o.Spec.Server
	}
	return out
}

func TestReload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns the --kubeconfig-source path and a change to apply.
		setup  func(t *testing.T, dir string) (string, func())
		before map[string]string
		after  map[string]string
	}{
		{
			name: "edit in place",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a", "b"))
				return p, func() { write(t, dir, "config", contexts("v2", "a", "c")) }
			},
			before: map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
			after:  map[string]string{"a": "https://a.v2", "c": "https://c.v2"},
		},
		{
			name: "replace by rename",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a"))
				return p, func() {
					tmp := write(t, dir, "config.tmp", contexts("v2", "a"))
					if err := os.Rename(tmp, p); err != nil {
						t.Fatal(err)
					}
				}
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v2"},
		},
		{
			name: "ConfigMap volume symlink swap",
			setup: func(t *testing.T, dir string) (string, func()) {
				// dir/config -> ..data/config, ..data -> ..v1; the update
				// writes ..v2 and atomically renames a new ..data link.
				vol := filepath.Join(dir, "vol")
				for _, v := range []string{"..v1", "..v2"} {
					if err := os.MkdirAll(filepath.Join(vol, v), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				write(t, filepath.Join(vol, "..v1"), "config", contexts("v1", "a"))
				write(t, filepath.Join(vol, "..v2"), "config", contexts("v2", "a", "b"))
				must(t, os.Symlink("..v1", filepath.Join(vol, "..data")))
				must(t, os.Symlink("..data/config", filepath.Join(vol, "config")))
				return vol, func() {
					must(t, os.Symlink("..v2", filepath.Join(vol, "..data_tmp")))
					must(t, os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")))
				}
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v2", "b": "https://b.v2"},
		},
		{
			name: "broken file keeps the last good clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a"))
				return p, func() { write(t, dir, "config", "{{{ not yaml") }
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v1"},
		},
		{
			name: "deleted file keeps the last good clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a"))
				return p, func() { must(t, os.Remove(p)) }
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v1"},
		},
		{
			name: "file removed from a directory source",
			setup: func(t *testing.T, dir string) (string, func()) {
				write(t, dir, "one", contexts("v1", "a"))
				p := write(t, dir, "two", contexts("v1", "b"))
				write(t, dir, ".hidden", contexts("v1", "hidden"))
				return dir, func() { must(t, os.Remove(p)) }
			},
			before: map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
			after:  map[string]string{"a": "https://a.v1"},
		},
		{
			name: "a directory that disappears keeps its clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				src := filepath.Join(dir, "src")
				must(t, os.Mkdir(src, 0o755))
				write(t, src, "one", contexts("v1", "a"))
				write(t, src, "two", contexts("v1", "b"))
				// An unmounted volume or a renamed folder.
				return src, func() { must(t, os.Rename(src, filepath.Join(dir, "elsewhere"))) }
			},
			before: map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
			after:  map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
		},
		{
			name: "a directory replaced by an empty one keeps its clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				src := filepath.Join(dir, "src")
				must(t, os.Mkdir(src, 0o755))
				write(t, src, "one", contexts("v1", "a"))
				// What an unmounted volume leaves: its empty mount point.
				return src, func() {
					must(t, os.Rename(src, filepath.Join(dir, "volume")))
					must(t, os.Mkdir(src, 0o755))
				}
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v1"},
		},
		{
			name: "every file removed from a directory removes their clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				src := filepath.Join(dir, "src")
				must(t, os.Mkdir(src, 0o755))
				one := write(t, src, "one", contexts("v1", "a"))
				two := write(t, src, "two", contexts("v1", "b"))
				return src, func() { must(t, os.Remove(one)); must(t, os.Remove(two)) }
			},
			before: map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
			after:  map[string]string{},
		},
		{
			name: "a directory that cannot be listed keeps its clusters",
			setup: func(t *testing.T, dir string) (string, func()) {
				if os.Geteuid() == 0 {
					t.Skip("root lists any directory")
				}
				src := filepath.Join(dir, "src")
				must(t, os.Mkdir(src, 0o755))
				write(t, src, "one", contexts("v1", "a"))
				t.Cleanup(func() { _ = os.Chmod(src, 0o755) })
				return src, func() { must(t, os.Chmod(src, 0)) }
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v1"},
		},
		{
			name: "an edit that keeps size and modification time",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a"))
				info, err := os.Stat(p)
				must(t, err)
				return p, func() {
					// Same length, same mtime, other contents: only the
					// contents tell.
					f, err := os.OpenFile(p, os.O_WRONLY, 0)
					must(t, err)
					_, err = f.WriteString(contexts("v2", "a"))
					must(t, err)
					must(t, f.Close())
					must(t, os.Chtimes(p, info.ModTime(), info.ModTime()))
				}
			},
			before: map[string]string{"a": "https://a.v1"},
			after:  map[string]string{"a": "https://a.v2"},
		},
		{
			name: "one bad context keeps its last good version, others update",
			setup: func(t *testing.T, dir string) (string, func()) {
				p := write(t, dir, "config", contexts("v1", "a", "b"))
				return p, func() {
					bad := strings.Replace(contexts("v2", "a", "b"), "    cluster: a\n", "    cluster: missing\n", 1)
					write(t, dir, "config", bad)
				}
			},
			before: map[string]string{"a": "https://a.v1", "b": "https://b.v1"},
			after:  map[string]string{"a": "https://a.v1", "b": "https://b.v2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, change := tc.setup(t, dir)
			inv := inventory.New()
			src := New(inv, []string{path}, time.Second, nil)
			src.Sync()
			if diff := cmp.Diff(tc.before, servers(inv)); diff != "" {
				t.Fatalf("before (-want +got):\n%s", diff)
			}
			change()
			src.Sync()
			if diff := cmp.Diff(tc.after, servers(inv)); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBrokenThenFixed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "config", "not: [valid")
	inv := inventory.New()
	src := New(inv, []string{p}, time.Second, nil)
	src.Sync()
	if got := servers(inv); len(got) != 0 {
		t.Fatalf("a broken file produced clusters: %v", got)
	}
	write(t, dir, "config", contexts("v1", "a"))
	src.Sync()
	if diff := cmp.Diff(map[string]string{"a": "https://a.v1"}, servers(inv)); diff != "" {
		t.Errorf("after the fix (-want +got):\n%s", diff)
	}
}

func TestNewBadContextIsListedNotReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "config", kubeconfig("", "- name: u\n  user:\n    token: t\n", "- name: Broken_Ctx\n  context:\n    cluster: nope\n    user: u\n"))
	inv := inventory.New()
	New(inv, []string{p}, time.Second, nil).Sync()
	objs, _ := inv.List()
	if len(objs) != 1 {
		t.Fatalf("got %d clusters, want the bad context listed", len(objs))
	}
	c := objs[0]
	if c.Spec.Source.Kubeconfig.Context != "Broken_Ctx" || c.Spec.DisplayName != "Broken_Ctx" {
		t.Errorf("original context name not kept: %+v", c.Spec)
	}
	if r := c.Status.Conditions[0]; r.Status != "False" || r.Reason != clusters.ReasonInvalidKubeconfig {
		t.Errorf("Ready = %+v, want False/%s", r, clusters.ReasonInvalidKubeconfig)
	}
}

func TestCollisionAcrossFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := write(t, dir, "a", contexts("from-a", "dev"))
	b := write(t, dir, "b", contexts("from-b", "dev"))
	inv := inventory.New()
	// b is given first, so it keeps the bare name.
	New(inv, []string{b, a}, time.Second, nil).Sync()
	got := servers(inv)
	if len(got) != 2 || got["dev"] != "https://dev.from-b" {
		t.Errorf("servers = %v, want both, with dev from the first flag", got)
	}
}

// TestCollisionInADirectory checks the README's rule within one flag: the
// file whose path sorts first keeps the name, /d/a before /d/a.yaml (whose
// origins sort the other way) and /d/a.yaml before /d/b.
func TestCollisionInADirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "a.yaml", contexts("from-a-yaml", "dev"))
	write(t, dir, "b", contexts("from-b", "dev"))
	inv := inventory.New()
	src := New(inv, []string{dir}, time.Second, nil)
	src.Sync()
	if got := servers(inv); len(got) != 2 || got["dev"] != "https://dev.from-a-yaml" {
		t.Errorf("servers = %v, want dev from a.yaml", got)
	}
	write(t, dir, "a", contexts("from-a", "dev"))
	src.Sync()
	if got := servers(inv); len(got) != 3 || got["dev"] != "https://dev.from-a" {
		t.Errorf("servers = %v, want dev from a", got)
	}
}

func TestRunPicksUpChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "config", contexts("v1", "a"))
	inv := inventory.New()
	src := New(inv, []string{p}, 100*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go src.Run(ctx)
	poll := func(want map[string]string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			return cmp.Equal(want, servers(inv)) && src.HasSynced(), nil
		})
		if err != nil {
			t.Fatalf("inventory never became %v; it is %v", want, servers(inv))
		}
	}
	poll(map[string]string{"a": "https://a.v1"})
	write(t, dir, "config", contexts("v2", "a"))
	poll(map[string]string{"a": "https://a.v2"})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEditReusesUnchangedContexts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "config", contexts("v1", "a", "b", "c"))
	inv := inventory.New()
	src := New(inv, []string{p}, time.Second, nil)
	src.Sync()
	before := src.files[p].last.members
	_, rv := inv.List()
	cursor, err := inv.Watch(rv)
	if err != nil {
		t.Fatal(err)
	}

	write(t, dir, "config", strings.Replace(contexts("v1", "a", "b", "c"), "https://b.v1", "https://b.v2", 1))
	src.Sync()
	after := src.files[p].last.members
	for _, name := range []string{"a", "c"} {
		if before[name].Cluster != after[name].Cluster {
			t.Errorf("unchanged context %q was rebuilt", name)
		}
	}
	if before["b"].Cluster == after["b"].Cluster {
		t.Errorf("changed context b was not rebuilt")
	}
	events, _, err := cursor.Next()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, string(ev.Type)+" "+ev.Object.Name)
	}
	if diff := cmp.Diff([]string{"MODIFIED b"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestRunReactsToFileEventsBeforeThePoll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "config", contexts("v1", "a"))
	inv := inventory.New()
	// A poll interval far beyond the deadline: only file events can make
	// the change show up in time.
	src := New(inv, []string{p}, time.Hour, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go src.Run(ctx)
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return src.HasSynced(), nil
	})
	if err != nil {
		t.Fatal("never synced")
	}
	write(t, dir, "config", contexts("v2", "a"))
	err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return servers(inv)["a"] == "https://a.v2", nil
	})
	if err != nil {
		t.Errorf("an edit was not picked up from file events: %v", servers(inv))
	}
}

// TestRunFollowsRenamesAndAtomicWrites: with polling out of the way, a
// file written beside the source and renamed over it, and a Kubernetes
// atomic writer's swap of its "..data" link, are picked up from file
// events; events of other files beside a source file are not followed.
func TestRunFollowsRenamesAndAtomicWrites(t *testing.T) {
	t.Parallel()
	dir, mounted := t.TempDir(), t.TempDir()
	p := write(t, dir, "config", contexts("v1", "a"))
	// A mounted ConfigMap: config -> ..data/config, ..data -> ..v1.
	if err := os.Mkdir(filepath.Join(mounted, "..v1"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mounted, "..v1"), "config", contexts("v1", "b"))
	for link, target := range map[string]string{"..data": "..v1", "config": "..data/config"} {
		if err := os.Symlink(target, filepath.Join(mounted, link)); err != nil {
			t.Fatal(err)
		}
	}
	inv := inventory.New()
	src := New(inv, []string{p, filepath.Join(mounted, "config")}, time.Hour, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go src.Run(ctx)
	waitFor := func(what, cluster, server string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return servers(inv)[cluster] == server, nil
		})
		if err != nil {
			t.Fatalf("%s was not picked up from file events: %v", what, servers(inv))
		}
	}
	waitFor("the first sync", "b", "https://b.v1")

	write(t, dir, "config.tmp", contexts("v2", "a"))
	if err := os.Rename(filepath.Join(dir, "config.tmp"), p); err != nil {
		t.Fatal(err)
	}
	waitFor("a rename over the file", "a", "https://a.v2")

	if err := os.Mkdir(filepath.Join(mounted, "..v2"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mounted, "..v2"), "config", contexts("v2", "b"))
	if err := os.Symlink("..v2", filepath.Join(mounted, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mounted, "..data_tmp"), filepath.Join(mounted, "..data")); err != nil {
		t.Fatal(err)
	}
	waitFor("an atomic writer's swap", "b", "https://b.v2")

	var ws watchSet
	ws.addFile(p)
	ws.addDir(mounted)
	for name, want := range map[string]bool{
		p:                                   true,
		filepath.Join(dir, "config.tmp"):    false,
		filepath.Join(dir, "other"):         false,
		filepath.Join(dir, "..data"):        true,
		filepath.Join(mounted, "anything"):  true,
		mounted:                             true,
		filepath.Join(dir, "sub", "config"): false,
	} {
		if got := ws.watched(name); got != want {
			t.Errorf("watched(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRunFollowsLinkedAndReferencedFiles: with polling out of the way,
// changes beside a source are picked up from file events: an edit in
// place of the file it reaches through two links, a link of the chain
// pointed elsewhere, and an edit in place of the file a referenced CA
// file links to.
func TestRunFollowsLinkedAndReferencedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "ca-1.crt", "first CA")
	must(t, os.Symlink("ca-1.crt", filepath.Join(dir, "ca.crt")))
	config := func(server string) string {
		return kubeconfig(
			"- name: a\n  cluster:\n    server: "+server+"\n    certificate-authority: ca.crt\n",
			"- name: a\n  user:\n    token: t\n",
			"- name: a\n  context:\n    cluster: a\n    user: a\n")
	}
	prod := write(t, dir, "config-prod", config("https://a.v1"))
	// config -> link -> config-prod
	must(t, os.Symlink("config-prod", filepath.Join(dir, "link")))
	p := filepath.Join(dir, "config")
	must(t, os.Symlink("link", p))
	inv := inventory.New()
	src := New(inv, []string{p}, time.Hour, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go src.Run(ctx)
	waitFor := func(what string, done func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return done(), nil
		}); err != nil {
			t.Fatalf("%s was not picked up from file events: %v", what, servers(inv))
		}
	}
	server := func(want string) func() bool { return func() bool { return servers(inv)["a"] == want } }
	waitFor("the first sync", server("https://a.v1"))

	must(t, os.WriteFile(prod, []byte(config("https://a.v2")), 0o600))
	waitFor("an edit of the file at the end of the links", server("https://a.v2"))

	write(t, dir, "config-next", config("https://a.v3"))
	must(t, os.Symlink("config-next", filepath.Join(dir, "link.tmp")))
	must(t, os.Rename(filepath.Join(dir, "link.tmp"), filepath.Join(dir, "link")))
	waitFor("a link of the chain pointed elsewhere", server("https://a.v3"))

	a, _ := inv.Access("a")
	hash := a.Hash
	write(t, dir, "ca-1.crt", "second CA")
	waitFor("an edit of the file the referenced CA file links to", func() bool {
		a, _ := inv.Access("a")
		return a.Hash != hash
	})
}

// TestSettleWaitsForWritesToStop: after a write, a sync waits until the
// events stop, however long they go on up to the limit; it gives up when
// the source stops. Not parallel: it lengthens the package's quiet times.
func TestSettleWaitsForWritesToStop(t *testing.T) {
	old := []time.Duration{renameQuiet, writeQuiet, maxSettle}
	defer func() { renameQuiet, writeQuiet, maxSettle = old[0], old[1], old[2] }()
	renameQuiet, writeQuiet, maxSettle = 10*time.Millisecond, 300*time.Millisecond, time.Minute

	changed := make(chan struct{}, 1)
	var written atomic.Bool
	var lastSent atomic.Int64
	written.Store(true)
	go func() {
		// Events 20 ms apart for 200 ms: each well within writeQuiet,
		// but renameQuiet alone would let a sync through after the first.
		for range 10 {
			time.Sleep(20 * time.Millisecond)
			lastSent.Store(time.Now().UnixNano())
			changed <- struct{}{}
		}
	}()
	if !settle(t.Context(), changed, &written) {
		t.Fatal("settle gave up")
	}
	if done, last := time.Now().UnixNano(), lastSent.Load(); done < last || last == 0 {
		t.Errorf("settle returned %v before the last write's event", time.Duration(last-done))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if settle(ctx, changed, &written) {
		t.Error("settle went on after its context was done")
	}
}

// TestReferencedFilesAreWatched rotates the CA and token files that an
// unchanged kubeconfig references and checks that the CA's rotation
// changes the member's access hash (so its transport is rebuilt), that the
// token's and an unchanged sync do not, and that a referenced file briefly
// missing keeps the last good access.
func TestReferencedFilesAreWatched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "ca.crt", "first CA")
	write(t, dir, "token", "first token")
	p := write(t, dir, "config", kubeconfig(
		"- name: a\n  cluster:\n    server: https://a\n    certificate-authority: ca.crt\n",
		"- name: a\n  user:\n    tokenFile: token\n",
		"- name: a\n  context:\n    cluster: a\n    user: a\n"))
	inv := inventory.New()
	src := New(inv, []string{p}, time.Second, nil)
	hash := func() string {
		t.Helper()
		src.Sync()
		a, ok := inv.Access("a")
		if !ok || a.Err != nil || !a.Configured() {
			t.Fatalf("access of a = %+v, %v; want a working one", a, ok)
		}
		return a.Hash
	}
	first := hash()
	if again := hash(); again != first {
		t.Errorf("a sync with nothing changed changed the access hash")
	}
	write(t, dir, "ca.crt", "second CA")
	rotatedCA := hash()
	if rotatedCA == first {
		t.Errorf("rotating the CA file did not change the access hash")
	}
	// client-go reads a token file again on its own: its rotation needs no
	// new transport, which would end every stream to the member.
	write(t, dir, "token", "second token")
	rotatedToken := hash()
	if rotatedToken != rotatedCA {
		t.Errorf("rotating the token file changed the access hash")
	}
	must(t, os.Remove(filepath.Join(dir, "ca.crt")))
	if got := hash(); got != rotatedToken {
		t.Errorf("a missing CA file changed the access hash; want the last good access kept")
	}
	write(t, dir, "ca.crt", "third CA")
	if got := hash(); got == rotatedToken {
		t.Errorf("a CA file written again did not change the access hash")
	}
}
