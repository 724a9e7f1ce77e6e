package harness

import (
	"context"
	"testing"
)

// StartForTest starts an Env for t, or fails t. The Env is stopped when t
// ends, passed or failed; when t failed, the last lines of every process
// log are printed first. Progress is logged with t.Logf unless opts.Log is
// set.
func StartForTest(ctx context.Context, t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.Log == nil {
		opts.Log = t.Logf
	}
	env, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the test environment: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs in %s:\n%s", env.WorkDir, env.LogTails(30))
		}
		env.Stop()
	})
	return env
}
