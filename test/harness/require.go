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
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SkipMissingEnv, set to 1, lets an end-to-end package pass without running
// when a component it needs is missing. Without it a missing component is
// a failure: a package must never pass having run nothing.
const SkipMissingEnv = "E2E_SKIP_MISSING"

// RequireBinaries checks that binDir holds every named binary. It returns
// skip when some are missing and SkipMissingEnv is 1, and an error naming
// what is missing and how to build it otherwise.
func RequireBinaries(binDir string, names ...string) (skip bool, err error) {
	var missing []string
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	msg := fmt.Sprintf("no %s in %s; run 'make binaries' (make test-e2e does)", strings.Join(missing, ", "), binDir)
	if os.Getenv(SkipMissingEnv) == "1" {
		fmt.Fprintf(os.Stderr, "SKIP (%s=1): %s\n", SkipMissingEnv, msg)
		return true, nil
	}
	return false, fmt.Errorf("%s (or set %s=1 to skip this package)", msg, SkipMissingEnv)
}
