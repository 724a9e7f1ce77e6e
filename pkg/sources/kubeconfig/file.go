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
	"encoding/binary"
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

// stale tells whether the file's contents, or a file that they reference
// (a CA, client certificate or key), may differ from the version last
// parsed, and returns what os.Stat tells of the file now. A file of the
// size last read is hashed first, as it streams through a small buffer:
// an edit can keep its size, modification time and inode, and a file
// only touched, or linked anew with the same contents (as a projected
// volume does when another of its files changes), is not parsed again.
// Polling a file of tens of megabytes every second holds no copy of it.
// Another one is stale without hashing it first: load hashes what it
// reads.
func (f *file) stale() (fileStat, bool, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return fileStat{}, false, err
	}
	id := statOf(info)
	if id == f.stat || id.size == int64(f.sum.len) {
		sum, err := sumFile(f.path)
		if err != nil {
			return id, false, err
		}
		if sum == f.sum && !f.last.refsChanged() {
			// The contents hashed are those last parsed, so this stat,
			// taken before, is of them or of an older version: a later
			// change is stated anew.
			f.stat = id
			return id, false, nil
		}
	}
	return id, true, nil
}

// errChanging is load's error for a file that changed while it was read:
// the next sync reads it again.
var errChanging = errors.New("the file changed while it was read")

// load reads and parses the file, whose stat (see stale) is id, reusing
// what f.last decoded. A file in the block style the cutter knows is cut
// as it streams, a block at a time, and only its new items are decoded;
// another one is read and decoded whole, and so is the next version of a
// file decoded whole. It returns the version, the sum of the contents it
// was parsed from, and apart an error reading the file and one parsing
// it. A file written in place while it was cut (clientcmd writes a
// kubeconfig in place) would be a torn version: it is errChanging.
func (f *file) load(id fileStat, priority int, impersonate bool) (p *parsed, sum fileSum, readErr, parseErr error) {
	// whole reads the file whole and parses it with parse.
	whole := func(parse func(string, []byte, int, bool, *parsed) (*parsed, error)) (*parsed, fileSum, error, error) {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fileSum{}, err, nil
		}
		p, err := parse(f.path, data, priority, impersonate, f.last)
		return p, sumOf(data), nil, err
	}
	if f.last != nil && f.last.items == nil {
		// Not cut last time: cut as it streams, a file with a CR or an
		// anchor near its end would have its items decoded, then be
		// decoded whole, at every change. Read whole, parseReusing looks
		// for those first.
		return whole(parseReusing)
	}
	in, err := os.Open(f.path)
	if err != nil {
		return nil, sum, err, nil
	}
	defer in.Close()
	s := newSummer()
	cfg, items, changed, err := cut(f.path, f.last, func(line func([]byte, bool) bool) error {
		ls := lineSplitter{fn: line}
		err := readBlocks(in, s, ls.block)
		if err == nil && !ls.stopped {
			ls.end()
		}
		return err
	})
	if err != nil {
		return nil, sum, err, nil
	}
	if cfg == nil {
		return whole(parseWhole)
	}
	sum = s.sum()
	if info, err := in.Stat(); err != nil {
		return nil, sum, err, nil
	} else if now := statOf(info); now != id || now.size != int64(sum.len) {
		return nil, sum, errChanging, nil
	}
	if sum.len == 0 {
		return nil, sum, nil, errEmpty
	}
	return assemble(f.path, cfg, items, changed, priority, impersonate, f.last), sum, nil, nil
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
// of tens of megabytes at every poll: the hash of the hashes of its blocks
// of blockSize bytes, each hashed in one call (a maphash.Hash written the
// whole file hashes it in steps of 128 bytes, a call each).
type fileSum struct {
	len int
	sum uint64
}

// blockSize is the size of the blocks a file is read and hashed in.
const blockSize = 64 << 10

// summer makes the fileSum of contents given a block at a time.
type summer struct {
	h   maphash.Hash
	n   int
	buf [8]byte
}

func newSummer() *summer {
	s := &summer{}
	s.h.SetSeed(itemSeed)
	return s
}

// block adds the next block, of blockSize bytes unless it is the last.
func (s *summer) block(b []byte) {
	s.n += len(b)
	binary.LittleEndian.PutUint64(s.buf[:], maphash.Bytes(itemSeed, b))
	_, _ = s.h.Write(s.buf[:])
}

func (s *summer) sum() fileSum { return fileSum{s.n, s.h.Sum64()} }

func sumOf(data []byte) fileSum {
	s := newSummer()
	for len(data) > 0 {
		n := min(len(data), blockSize)
		s.block(data[:n])
		data = data[n:]
	}
	return s.sum()
}

// blockBuffers are the buffers files are read through.
var blockBuffers = sync.Pool{New: func() any { return new([blockSize]byte) }}

// readBlocks reads r in blocks of blockSize, adds each to s, and hands it
// to fn, if not nil, until fn returns false.
func readBlocks(r io.Reader, s *summer, fn func(block []byte) bool) error {
	buf := blockBuffers.Get().(*[blockSize]byte)
	defer blockBuffers.Put(buf)
	for {
		n, err := io.ReadFull(r, buf[:])
		if n > 0 {
			s.block(buf[:n])
			if fn != nil && !fn(buf[:n]) {
				return nil
			}
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// sumFile returns sumOf the contents of the file at path, without holding
// them in memory.
func sumFile(path string) (fileSum, error) {
	in, err := os.Open(path)
	if err != nil {
		return fileSum{}, err
	}
	defer in.Close()
	s := newSummer()
	if err := readBlocks(in, s, nil); err != nil {
		return fileSum{}, err
	}
	return s.sum(), nil
}

// lineSplitter hands the lines of blocks to fn, each with its newline if
// it has one, until fn returns false; a line across blocks is put
// together in carry. A line is valid during the call only. checked tells
// fn that hasOtherBreak and hasAnchorOrAlias found nothing in the line's
// block, so nothing in the line (each runs over a block in a few calls,
// where a line at a time would be six calls a line); a line across blocks
// is not checked.
type lineSplitter struct {
	fn      func(line []byte, checked bool) bool
	carry   []byte
	stopped bool
}

// block takes the next block, and returns false once fn has.
func (l *lineSplitter) block(b []byte) bool {
	// An anchor at the start of a line is after a newline, which
	// hasAnchorOrAlias counts; one at the start of the block is
	// counted, whatever is before it.
	clean := !hasOtherBreak(b) && !hasAnchorOrAlias(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.carry = append(l.carry, b...)
			return true
		}
		line, checked := b[:i+1], clean
		if len(l.carry) > 0 {
			l.carry = append(l.carry, line...)
			line, checked = l.carry, false
		}
		if !l.fn(line, checked) {
			l.stopped = true
			return false
		}
		l.carry = l.carry[:0]
		b = b[i+1:]
	}
	return true
}

// end hands over the last line, if it has no newline.
func (l *lineSplitter) end() {
	if len(l.carry) > 0 && !l.stopped {
		l.stopped = !l.fn(l.carry, false)
	}
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
