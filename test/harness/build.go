package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

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
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/clusters-apiserver")
	cmd.Dir = root
	cmd.SysProcAttr = sysProcAttr()
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building clusters-apiserver: %w\n%s", err, output)
	}
	return out, nil
}
