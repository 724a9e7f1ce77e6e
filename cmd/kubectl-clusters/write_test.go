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

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestWriteFileKeepsModeAndLocks: a replaced file keeps its mode, but for
// group and others, a new one is 0600, and a locked file cannot be locked
// again until released.
func TestWriteFileKeepsModeAndLocks(t *testing.T) {
	dir := t.TempDir()
	cfg := clientcmdapi.NewConfig()
	cfg.CurrentContext = "x"
	fresh := filepath.Join(dir, "fresh")
	if err := writeFile(fresh, cfg); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "kept")
	if err := os.WriteFile(kept, []byte("apiVersion: v1\nkind: Config\n"), 0o644); err != nil { // #nosec G306 -- the mode under test
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o744); err != nil { // #nosec G302 -- the mode under test
		t.Fatal(err)
	}
	if err := writeFile(kept, cfg); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{fresh: 0o600, kept: 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v); want %v", filepath.Base(path), fi.Mode().Perm(), err, want)
		}
	}
	unlock, err := lock(kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock(kept); err == nil || !strings.Contains(err.Error(), "kept.lock") {
		t.Errorf("locking a locked file: %v; want an error naming the lock", err)
	}
	unlock()
	again, err := lock(kept)
	if err != nil {
		t.Errorf("locking after the release: %v", err)
	} else {
		again()
	}
}
