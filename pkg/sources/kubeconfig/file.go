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
	"errors"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// file is what the source remembers of one kubeconfig file.
type file struct {
	path string
	// sum is the checksum of the contents last parsed. Every sync hashes
	// the file's contents and compares, since an edit can keep a file's
	// size and modification time.
	sum fileSum
	// stat is what os.Stat told of the file when it was last read.
	stat fileStat
	// lastGood is the last version parsed without error, kept through
	// versions that fail as a whole, and kept holds the members served in
	// place of contexts that are invalid now: between them, the last valid
	// member of each context (see lastValid).
	lastGood *parsed
	kept     map[string]inventory.Member
	// valid is how many contexts are served with a valid member.
	valid int
	// last is the last version parsed, whose unchanged contexts the next
	// version reuses, with the checksums of the files it references.
	last *parsed
	// failure is the last problem logged, so it is logged once.
	failure string
	// unreadable is true while the file cannot be read.
	unreadable bool
}

// lastValid returns the last valid member of context name: the one served
// in its place already, or the one of the last good version.
func (f *file) lastValid(name string) (inventory.Member, bool) {
	if m, ok := f.kept[name]; ok {
		return m, true
	}
	if f.lastGood == nil || f.lastGood.bad[name] != nil {
		return inventory.Member{}, false
	}
	m, ok := f.lastGood.members[name]
	return m, ok && m.Access.Err == nil
}

// read tells whether the file's contents, or a file that they reference
// (a CA, client certificate or key), differ from the version last parsed,
// and if so returns the contents. A file whose size, modification time
// and inode are those last read is only hashed, as it streams through a
// small buffer (an edit can keep them all): polling a file of tens of
// megabytes every second holds no copy of it. Another one is read at once,
// without hashing it first.
func (f *file) read() ([]byte, bool, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return nil, false, err
	}
	id := statOf(info)
	if id == f.stat {
		sum, err := sumFile(f.path)
		if err != nil {
			return nil, false, err
		}
		if sum == f.sum && !f.last.refsChanged() {
			return nil, false, nil
		}
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, false, err
	}
	// What was read may be newer than what was stated: the next poll then
	// reads it again and finds the same contents.
	f.stat = id
	if sum := sumOf(data); sum != f.sum {
		f.sum = sum
		return data, true, nil
	}
	return data, f.last.refsChanged(), nil
}

// fileStat is what os.Stat tells of a file's version: its size,
// modification time, device and inode.
type fileStat struct {
	size, mtime int64
	id          [2]uint64
}

func statOf(info os.FileInfo) fileStat {
	return fileStat{info.Size(), info.ModTime().UnixNano(), dirID(info)}
}

// fail logs a problem with the whole file, once until it changes.
func (f *file) fail(err error) {
	if msg := inventory.Redact(err.Error()); msg != f.failure {
		f.failure = msg
		klog.ErrorS(nil, "Cannot use kubeconfig file; its clusters from the last good version stay served",
			"file", f.path, "problem", msg, "servedContexts", f.valid)
	}
}

// recovered logs, once, that a file with a problem is usable again.
func (f *file) recovered() {
	if f.failure != "" {
		klog.InfoS("Kubeconfig file is usable again", "file", f.path)
		f.failure = ""
	}
}

// fileSum identifies a file's contents by their length and a hash with a
// seed of this process (as itemKey does), fast enough to compare a file
// of tens of megabytes at every poll.
type fileSum struct {
	len int
	sum uint64
}

func sumOf(data []byte) fileSum {
	return fileSum{len(data), maphash.Bytes(itemSeed, data)}
}

// sumBuffers are the buffers sumFile streams files through.
var sumBuffers = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// sumFile returns sumOf the contents of the file at path, without holding
// them in memory.
func sumFile(path string) (fileSum, error) {
	in, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer in.Close()
	var h maphash.Hash
	h.SetSeed(itemSeed)
	buf := sumBuffers.Get().(*[64 << 10]byte)
	defer sumBuffers.Put(buf)
	n, err := io.CopyBuffer(&h, struct{ io.Reader }{in}, buf[:]) // not os.File.WriteTo, which would bring its own buffer
	if err != nil {
		return fileSum{}, err
	}
	return fileSum{int(n), h.Sum64()}, nil
}

// expand returns the kubeconfig files of a --kubeconfig-source path: the
// path itself, or the non-hidden regular files of a directory (following
// symlinks, as ConfigMap volumes need), sorted.
//
// A directory that disappears or cannot be listed (an unmounted volume, a
// renamed folder, a permission change) says nothing about its files, so
// the files last seen in it stay, with their clusters; only a file removed
// from a directory that can still be listed is gone.
func (s *Source) expand(path string) []string {
	info, err := os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		s.dirs[path] = true
	case err != nil && s.dirs[path]:
		s.dirFault(path, err)
		return s.known(path)
	default:
		// A file, missing or not, is still tracked, so its problem is
		// logged and its last good clusters stay. A directory that became
		// a file is that file now.
		delete(s.dirs, path)
		s.dirFault(path, nil)
		return []string{path}
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		s.dirFault(path, err)
		return s.known(path)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(path, e.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		files = append(files, p)
	}
	// An unmounted volume leaves its mount point behind: an empty
	// directory, but another one (another device or inode) than the one
	// the files were in. That is not the files being removed.
	id := dirID(info)
	if was, ok := s.dirIDs[path]; ok && was != id && len(files) == 0 && len(s.known(path)) > 0 {
		s.dirFault(path, errors.New("the directory was replaced by an empty one, as when its volume is unmounted"))
		return s.known(path)
	}
	s.dirIDs[path] = id
	s.dirFault(path, nil)
	return files
}

// dirID is a directory's device and inode, or nothing where the platform
// does not tell.
func dirID(info os.FileInfo) [2]uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return [2]uint64{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev is not uint64 on every platform
	}
	return [2]uint64{}
}

// known returns the files last seen in directory dir, sorted.
func (s *Source) known(dir string) []string {
	var kept []string
	for p := range s.files {
		if filepath.Dir(p) == filepath.Clean(dir) {
			kept = append(kept, p)
		}
	}
	sort.Strings(kept)
	return kept
}

// dirFault logs, once, that directory dir cannot be listed (err) or, with
// a nil err, that it can again.
func (s *Source) dirFault(dir string, err error) {
	was, ok := s.dirFaults[dir]
	switch {
	case err == nil && ok:
		delete(s.dirFaults, dir)
		klog.InfoS("Kubeconfig directory is readable again", "directory", dir)
	case err != nil && (!ok || was != err.Error()):
		s.dirFaults[dir] = err.Error()
		klog.ErrorS(nil, "Cannot list kubeconfig directory; the clusters of its files stay served from their last good version",
			"directory", dir, "problem", err.Error(), "files", len(s.known(dir)))
	}
}
