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
