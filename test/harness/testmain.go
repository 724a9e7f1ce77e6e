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
	"path/filepath"
	"testing"
	"time"
)

// Suite is what an end-to-end package's TestMain asks RunSuite for.
type Suite struct {
	// Name names the package's work directory.
	Name string
	// Binaries are the programs needed in _output/bin besides
	// kube-apiserver, kubectl and etcd.
	Binaries []string
	// Options are the environment's options; RunSuite sets WorkDir,
	// BinDir, ServerBinary and Log.
	Options Options
	// Prepare, if set, runs in the work directory before the environment
	// starts, and may change Options (to name files it wrote).
	Prepare func(ctx context.Context, work string, opts *Options) error
	// Started, if set, runs once the environment is up.
	Started func(ctx context.Context, env *Env) error
}

// RunSuite is the whole TestMain of an end-to-end package: it checks that
// the binaries are built (failing, or with SkipMissingEnv=1 skipping, when
// they are not), builds the server, starts the environment, runs the tests,
// prints the process logs if they failed, and stops everything. It stores
// the environment in *env for the tests and returns the exit code.
func RunSuite(m *testing.M, env **Env, s Suite) int {
	code, err := runSuite(m, env, s)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

func runSuite(m *testing.M, envp **Env, s Suite) (int, error) {
	root, err := RepoRoot()
	if err != nil {
		return 1, err
	}
	bin := filepath.Join(root, "_output", "bin")
	skip, err := RequireBinaries(bin, append([]string{"kube-apiserver", "kubectl", "etcd"}, s.Binaries...)...)
	if err != nil || skip {
		return 0, err
	}
	work, err := os.MkdirTemp("", "clusters-e2e-"+s.Name+"-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(work)

	// Building with -race on a cold build cache takes minutes of its own.
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancelBuild()
	server, err := BuildServer(buildCtx, work)
	if err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := s.Options
	opts.ServerBinary = server
	if s.Prepare != nil {
		if err := s.Prepare(ctx, work, &opts); err != nil {
			return 1, err
		}
	}
	opts.WorkDir = filepath.Join(work, "env")
	opts.BinDir = bin
	opts.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...) }
	env, err := Start(ctx, opts)
	if err != nil {
		return 1, fmt.Errorf("starting the hub: %w", err)
	}
	defer env.Stop()
	if s.Started != nil {
		if err := s.Started(ctx, env); err != nil {
			return 1, err
		}
	}
	*envp = env
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "process logs:\n%s\n%s\n", env.LogDigest(30), env.LogTails(40))
	}
	return code, nil
}
