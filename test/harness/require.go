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
