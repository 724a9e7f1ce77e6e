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

// Package image tests the container image that make image writes: what
// docker load and podman load read from it, the user and entrypoint it runs
// with, that it holds nothing but the server (no shell), and that the
// server in it runs.
package image

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// imageRepo is the repository the deploy manifests and the README name.
const imageRepo = "ghcr.io/headlamp-k8s/clusters-apiserver"

// archive is the image tarball: path E2E_IMAGE, or make image's output.
func archive(t *testing.T) string {
	t.Helper()
	path := os.Getenv("E2E_IMAGE")
	if path == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, "_output", "clusters-apiserver-image.tar")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv(harness.SkipMissingEnv) == "1" {
			t.Skipf("no image at %s (%s=1)", path, harness.SkipMissingEnv)
		}
		t.Fatalf("no image at %s: run 'make image' (make test-e2e does)", path)
	}
	return path
}

// readArchive returns the files of a docker-archive tarball by name.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type imageConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		User       string            `json:"User"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

func TestImage(t *testing.T) {
	files := readArchive(t, archive(t))

	// What docker load and podman load read: manifest.json, one entry
	// with the tags, the config and the layers it names.
	var manifest []manifestEntry
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json = %s (%v), want one image", files["manifest.json"], err)
	}
	m := manifest[0]
	if !slices.Contains(m.RepoTags, imageRepo+":latest") {
		t.Errorf("tags = %v, want %s:latest among them (the deploy manifests use it)", m.RepoTags, imageRepo)
	}
	var cfg imageConfig
	if err := json.Unmarshal(files[m.Config], &cfg); err != nil {
		t.Fatalf("config %s: %v", m.Config, err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform = %s/%s, want linux/<arch>", cfg.OS, cfg.Architecture)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/clusters-apiserver"}) || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %v cmd %v, want [/clusters-apiserver] and no cmd", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	// Numeric, so that runAsNonRoot can verify it without /etc/passwd.
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user = %q, want 65532:65532 (non-root)", cfg.Config.User)
	}

	// The layers: the server binary, /etc/passwd and /etc/group naming
	// the user, empty /tmp and home; nothing else, so no shell.
	want := []string{"clusters-apiserver", "etc/", "etc/group", "etc/passwd", "home/", "home/nonroot/", "tmp/"}
	var got []string
	var binary []byte
	for _, name := range m.Layers {
		zr, err := gzip.NewReader(strings.NewReader(string(files[name])))
		if err != nil {
			t.Fatalf("layer %s: %v", name, err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", name, err)
			}
			got = append(got, h.Name)
			if h.Name == "clusters-apiserver" {
				if binary, err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
				if h.Uid != 0 || h.Mode&0o222 != 0 {
					t.Errorf("the binary is owned by %d with mode %o, want root's and read-only", h.Uid, h.Mode)
				}
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if binary == nil {
		t.Fatal("the image holds no server binary")
	}

	// The binary runs here when it is built for this machine: static, so
	// nothing from the image is needed beside it.
	if cfg.Architecture != runtime.GOARCH || runtime.GOOS != "linux" {
		t.Skipf("the image is for linux/%s; not running its binary on %s/%s", cfg.Architecture, runtime.GOOS, runtime.GOARCH)
	}
	bin := filepath.Join(t.TempDir(), "clusters-apiserver")
	if err := os.WriteFile(bin, binary, 0o555); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	version := strings.TrimSpace(string(out))
	if err != nil || version == "" || strings.Contains(version, "\n") {
		t.Fatalf("clusters-apiserver --version: %v: %q, want one line", err, out)
	}
	if label := cfg.Config.Labels["org.opencontainers.image.version"]; label != version && !strings.HasSuffix(version, " "+label) {
		t.Errorf("--version prints %q; the image's version label is %q", version, label)
	}
	if !slices.ContainsFunc(m.RepoTags, func(tag string) bool { return strings.HasSuffix(version, strings.TrimPrefix(tag, imageRepo+":")) }) {
		t.Errorf("--version prints %q; no tag of %v matches it", version, m.RepoTags)
	}
	if out, err := exec.CommandContext(t.Context(), "file", bin).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("the binary is not static: %s", out)
	}
}
