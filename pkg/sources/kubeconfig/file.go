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
	"crypto/sha256"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// file is what the source remembers of one kubeconfig file.
type file struct {
	path string
	// stat is the identity of the version last read: a change of inode,
	// size or modification time (through symlinks) triggers a re-read.
	stat fileStat
	sum  [sha256.Size]byte
	// good holds the last valid member of each context.
	good map[string]inventory.Member
	// last is the last version parsed, whose unchanged contexts the next
	// version reuses.
	last *parsed
	// failure is the last problem logged, so it is logged once.
	failure string
	// unreadable is true while the file cannot be read.
	unreadable bool
}

type fileStat struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// read returns the file's contents and whether they differ from the last
// version read. An unchanged stat skips the read.
func (f *file) read() ([]byte, bool, error) {
	info, err := os.Stat(f.path)
	if err != nil {
		return nil, false, err
	}
	st := fileStat{size: info.Size(), mtime: info.ModTime()}
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), sys.Ino //nolint:unconvert // Dev is not uint64 on every platform
	}
	if st == f.stat {
		return nil, false, nil
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, false, err
	}
	f.stat = st
	sum := sha256.Sum256(data)
	if bytes.Equal(sum[:], f.sum[:]) {
		return data, false, nil
	}
	f.sum = sum
	return data, true, nil
}

// fail logs a problem with the whole file, once until it changes.
func (f *file) fail(err error) {
	if msg := inventory.Redact(err.Error()); msg != f.failure {
		f.failure = msg
		klog.ErrorS(nil, "Cannot use kubeconfig file; its clusters from the last good version stay served",
			"file", f.path, "problem", msg, "servedContexts", len(f.good))
	}
}

// recovered logs, once, that a file with a problem is usable again.
func (f *file) recovered() {
	if f.failure != "" {
		klog.InfoS("Kubeconfig file is usable again", "file", f.path)
		f.failure = ""
	}
}

// expand returns the kubeconfig files of a --kubeconfig-source path: the
// path itself, or the non-hidden regular files of a directory (following
// symlinks, as ConfigMap volumes need), sorted.
func (s *Source) expand(path string) []string {
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		// A missing file is still tracked, so its problem is logged and its
		// last good clusters stay.
		return []string{path}
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		klog.ErrorS(err, "Cannot list kubeconfig directory", "directory", path)
		var kept []string
		for p := range s.files {
			if filepath.Dir(p) == filepath.Clean(path) {
				kept = append(kept, p)
			}
		}
		sort.Strings(kept)
		return kept
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
	return files
}
