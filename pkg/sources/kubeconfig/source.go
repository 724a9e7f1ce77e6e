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

// Package kubeconfig is the source of member clusters that reads kubeconfig
// files: every context of every file is one Cluster. Files are re-read when
// they change, including by rename and by the symlink swap that ConfigMap
// and Secret volumes use.
package kubeconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources"
)

// DefaultPollInterval is how often files are checked for changes when the
// file system reports none.
const DefaultPollInterval = time.Second

// Source reads kubeconfig files and directories of them.
type Source struct {
	paths       []string
	interval    time.Duration
	impersonate func(path string) bool
	inv         *inventory.Inventory
	synced      atomic.Bool

	mu    sync.Mutex
	files map[string]*file // by path
	// dirs are the --kubeconfig-source paths last seen as directories, and
	// dirIDs their device and inode when they were last listed.
	dirs   map[string]bool
	dirIDs map[string][2]uint64
	// dirFaults are the problems last logged per directory.
	dirFaults map[string]string
	// followed are, as absolute paths, the files beside the sources'
	// own whose events may change a source: what the sources' files link
	// to and the files their contexts reference. Set at each sync.
	followed atomic.Pointer[map[string]bool]
}

var _ sources.Source = &Source{}

// New returns a source for paths, each a kubeconfig file or a directory
// whose non-hidden files are kubeconfig files. Clusters from an earlier
// path win name collisions against later ones. impersonate tells, for a
// path as given, whether the proxy forwards to its clusters as the hub user
// (true) or with the kubeconfig's credential alone; nil means always.
func New(inv *inventory.Inventory, paths []string, interval time.Duration, impersonate func(path string) bool) *Source {
	if impersonate == nil {
		impersonate = func(string) bool { return true }
	}
	return &Source{paths: paths, interval: interval, impersonate: impersonate, inv: inv,
		files: map[string]*file{}, dirs: map[string]bool{}, dirIDs: map[string][2]uint64{}, dirFaults: map[string]string{}}
}

// Name implements sources.Source.
func (s *Source) Name() string { return "kubeconfig-source" }

// HasSynced implements sources.Source: true once every file has been read
// once, whether or not it was valid.
func (s *Source) HasSynced() bool { return s.synced.Load() }

// SourceType implements sources.Authority.
func (s *Source) SourceType() string { return string(clusters.SourceTypeKubeconfig) }

// Authoritative implements sources.Authority: once every file has been
// read, what they hold is every cluster of this source.
func (s *Source) Authoritative() bool { return s.synced.Load() }

// Run implements sources.Source. Files are checked when the file system
// reports a change in their directories, and every poll interval in any
// case (some file systems, such as network ones, report nothing).
func (s *Source) Run(ctx context.Context) {
	changed := make(chan struct{}, 1)
	var written atomic.Bool
	watching := make(chan struct{})
	go s.watchDirs(ctx, changed, &written, watching)
	// The first sync reads what the files hold once they are watched: an
	// edit between the two would otherwise wait for the poll.
	select {
	case <-ctx.Done():
		return
	case <-watching:
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.Sync()
		s.synced.Store(true)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
			if !settle(ctx, changed, &written) {
				return
			}
		}
	}
}

// Quiet times before a sync after file events (see settle); variables
// for tests.
var (
	renameQuiet = 2 * time.Millisecond
	writeQuiet  = 20 * time.Millisecond
	maxSettle   = 500 * time.Millisecond
)

// settle waits, after a file event, until the events stop: renameQuiet
// without another event after a file was renamed or linked into place
// (complete at once), writeQuiet after a file was written in place (a
// writer's next write comes sooner than that), and maxSettle at most, so
// that a file written without pause is still read. It returns false once
// ctx is done.
func settle(ctx context.Context, changed <-chan struct{}, written *atomic.Bool) bool {
	deadline := time.NewTimer(maxSettle)
	defer deadline.Stop()
	quiet := renameQuiet
	for {
		if written.Swap(false) {
			quiet = writeQuiet // and so for the rest of this burst
		}
		t := time.NewTimer(quiet)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-changed:
			t.Stop() // another event: wait again
		case <-t.C:
			return true
		case <-deadline.C:
			t.Stop()
			return true
		}
	}
}

// watchDirs signals changed on a file system event in the directories that
// hold the sources' files that may change a source (see watched), and sets
// written first for a write, until ctx is done. It closes watching once
// the directories are watched, or cannot be.
func (s *Source) watchDirs(ctx context.Context, changed chan<- struct{}, written *atomic.Bool, watching chan<- struct{}) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		close(watching)
		klog.InfoS("Cannot watch kubeconfig files for changes; polling only", "interval", s.interval, "err", err.Error())
		return
	}
	defer w.Close()
	ws := watchSet{followed: &s.followed}
	for _, p := range s.paths {
		// Absolute, so that events name files as the followed set does.
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		dir := p
		if info, err := os.Stat(p); err != nil || !info.IsDir() {
			dir = filepath.Dir(p)
			ws.addFile(p)
		} else {
			ws.addDir(p)
		}
		if err := w.Add(dir); err != nil {
			klog.InfoS("Cannot watch a kubeconfig directory for changes; polling it", "directory", dir, "err", err.Error())
		}
	}
	close(watching)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if !ws.watched(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Write) {
				written.Store(true)
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			klog.V(2).InfoS("Watching kubeconfig files", "err", err.Error())
		}
	}
}

// watchSet tells which file system events may change a source: any in a
// source directory; in the directory of a source file, those of the file
// itself, of the files it links to and its contexts reference (see
// Source.followed), and of Kubernetes' atomic writer (the "..data" link
// of a mounted ConfigMap or Secret, and the "..<timestamp>" directory it
// points to), not those of other files beside it. A tool that writes a
// large file beside it and renames it into place would otherwise have
// every write wake a sync that hashes the whole file (make bench scenario
// 5). Polling still reads every file at each interval.
type watchSet struct {
	files, dirs map[string]bool
	followed    *atomic.Pointer[map[string]bool]
}

func (ws *watchSet) addFile(p string) {
	if ws.files == nil {
		ws.files = map[string]bool{}
	}
	ws.files[filepath.Clean(p)] = true
}

func (ws *watchSet) addDir(p string) {
	if ws.dirs == nil {
		ws.dirs = map[string]bool{}
	}
	ws.dirs[filepath.Clean(p)] = true
}

// watched tells whether an event of the file named name may change a
// source.
func (ws *watchSet) watched(name string) bool {
	name = filepath.Clean(name)
	if ws.files[name] || ws.dirs[name] || ws.dirs[filepath.Dir(name)] || strings.HasPrefix(filepath.Base(name), "..") {
		return true
	}
	if ws.followed == nil {
		return false
	}
	f := ws.followed.Load()
	// Before the first sync has told what to follow, every event counts.
	return f == nil || (*f)[name]
}

// Sync checks every path once and updates the inventory with what changed.
func (s *Source) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for i, p := range s.paths {
		for _, path := range s.expand(p) {
			if seen[path] {
				continue
			}
			seen[path] = true
			f, ok := s.files[path]
			if !ok {
				f = &file{path: path}
				s.files[path] = f
			}
			s.syncFile(f, i, s.impersonate(p))
		}
	}
	for path := range s.files {
		if !seen[path] {
			// Gone from its directory: a deliberate removal.
			if f := s.files[path]; f.last != nil || f.lastGood != nil {
				klog.InfoS("Kubeconfig file removed from its directory; removing its clusters", "file", path)
			}
			s.inv.Replace(owner(path), nil)
			delete(s.files, path)
		}
	}
	s.follow()
}

// follow sets s.followed from the files now: the links each is reached
// through and the file they lead to, and the files its last version
// references, with theirs. s.mu is held.
func (s *Source) follow() {
	followed := map[string]bool{}
	for path, f := range s.files {
		for _, p := range linkChain(path) {
			followed[p] = true
		}
		if f.last != nil {
			for ref := range f.last.refs {
				for _, p := range linkChain(ref) {
					followed[p] = true
				}
			}
		}
	}
	s.followed.Store(&followed)
}

// maxLinks bounds the links followed from one file, as the kernel does.
const maxLinks = 40

// linkChain returns path and, if it is a symbolic link, every link it
// leads through and the file at the end, as absolute paths named the way
// file events name them: joined to the directory of the link, whose own
// links are not resolved (a watched directory's events carry its name as
// it was watched).
func linkChain(path string) []string {
	var out []string
	for range maxLinks {
		abs, err := filepath.Abs(path)
		if err != nil {
			return out
		}
		out = append(out, abs)
		target, err := os.Readlink(abs)
		if err != nil {
			return out // not a link, or gone
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(abs), target)
		}
		path = target
	}
	return out
}

// syncFile re-reads f if it changed and publishes its members. On any error
// the file's last good members stay published.
func (s *Source) syncFile(f *file, priority int, impersonate bool) {
	id, stale, err := f.stale()
	var result *parsed
	var parseErr error
	if err == nil && stale {
		var sum fileSum
		result, sum, err, parseErr = f.load(id, priority, impersonate)
		if errors.Is(err, errChanging) {
			// Read again at the next sync: the writer's events, or the
			// next poll, bring one.
			klog.V(2).InfoS("Kubeconfig file changed while it was read; reading it again at the next sync", "file", f.path)
			return
		}
		if err == nil {
			// What was read may be newer than what was stated: the next
			// poll then reads it again and finds the same contents.
			f.stat = id
			stale = sum != f.sum || f.last.refsChanged() // else only touched
			f.sum = sum
		}
	}
	if err != nil {
		f.unreadable = true
		f.fail(err)
		return
	}
	if !stale {
		if f.unreadable {
			// Readable again with the contents already served.
			f.unreadable = false
			f.recovered()
		}
		return
	}
	f.unreadable = false
	if parseErr != nil {
		f.fail(parseErr)
		// Only a new version of the file can fix it; the files the last
		// one referenced no longer matter (and, changed, would make every
		// poll parse the broken file again).
		f.last = nil
		return
	}
	f.recovered()

	// Not a map of every valid member, copied at each version: a
	// 10,000-context file would pay for 10,000 entries to keep a few.
	members := make([]inventory.Member, 0, len(result.members))
	kept := map[string]inventory.Member{}
	valid := 0
	for name := range result.members {
		m := result.members[name]
		if err := result.bad[name]; err != nil {
			if good, ok := f.lastValid(name); ok {
				klog.ErrorS(nil, "Kubeconfig context is invalid; keeping its last good version", "file", f.path, "context", name, "problem", inventory.Redact(err.Error()))
				m = good
				kept[name] = good
			} else {
				klog.ErrorS(nil, "Kubeconfig context is invalid; listing it as not ready", "file", f.path, "context", name, "problem", inventory.Redact(err.Error()))
			}
		}
		if m.Access.Err == nil {
			valid++
		}
		members = append(members, m)
	}
	f.kept, f.lastGood, f.last, f.valid = kept, result, result, valid
	s.inv.Replace(owner(f.path), members)
	klog.V(2).InfoS("Loaded kubeconfig file", "file", f.path, "contexts", len(members), "invalid", len(result.bad))
}

// owner is the inventory owner key of the members of the file at path.
func owner(path string) string { return "kubeconfig:" + path }
