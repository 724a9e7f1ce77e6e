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

package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RaceEnv, set to 1, makes BuildServer build with the race detector, as
// make test does: the end-to-end tests then also look for data races in
// the server under real traffic. A race makes the server exit with an
// error, which fails the tests.
const RaceEnv = "E2E_SERVER_RACE"

// BuildServer builds ./cmd/clusters-apiserver of the repository that
// contains the working directory into dir, and returns the binary's path.
// Tests build it themselves so that they never run a stale binary; Go's
// build cache makes that quick after the first time.
func BuildServer(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "clusters-apiserver")
	args := []string{"build", "-o", out}
	if os.Getenv(RaceEnv) == "1" {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/clusters-apiserver")...)
	cmd.Dir = root
	if os.Getenv(RaceEnv) == "1" {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // the race detector needs cgo
	}
	cmd.SysProcAttr = sysProcAttr()
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building clusters-apiserver: %w\n%s", err, output)
	}
	return out, nil
}

// BuildPlugin builds the kubectl-clusters plugin into dir and returns its
// path.
func BuildPlugin(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "kubectl-clusters")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/kubectl-clusters")
	cmd.Dir = root
	cmd.SysProcAttr = sysProcAttr()
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kubectl-clusters: %w\n%s", err, output)
	}
	return out, nil
}
