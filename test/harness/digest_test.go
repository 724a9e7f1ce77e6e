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
	"slices"
	"testing"
)

func TestDigest(t *testing.T) {
	log := `=== 2026-12-02T04:15:00Z: starting clusters-apiserver --flag
I1202 04:15:01.000000   1 server.go:92] "Starting clusters-apiserver"
E1202 04:15:02.000000   1 reflector.go:227] "Failed to watch"
I1202 04:15:03.000000   1 handler.go:309] Adding GroupVersion clusters.headlamp.dev v1alpha1 to ResourceManager
==================
WARNING: DATA RACE
Write at 0x00c000 by goroutine 7:
  main.f()
==================
=== 2026-12-02T04:15:04Z: clusters-apiserver exited: exit status 66
=== 2026-12-02T04:15:05Z: starting clusters-apiserver --flag
E1202 04:15:06.000000   1 controller.go:146] "Unhandled Error" err="v1alpha1.clusters.headlamp.dev failed with: failing or missing response"
`
	kept, reports := digest(log, 10, true)
	wantKept := []string{
		"=== 2026-12-02T04:15:00Z: starting clusters-apiserver --flag",
		`E1202 04:15:02.000000   1 reflector.go:227] "Failed to watch"`,
		"=== 2026-12-02T04:15:04Z: clusters-apiserver exited: exit status 66",
		"=== 2026-12-02T04:15:05Z: starting clusters-apiserver --flag",
		`E1202 04:15:06.000000   1 controller.go:146] "Unhandled Error" err="v1alpha1.clusters.headlamp.dev failed with: failing or missing response"`,
	}
	if !slices.Equal(kept, wantKept) {
		t.Errorf("kept %q\nwant %q", kept, wantKept)
	}
	wantReports := []string{"WARNING: DATA RACE", "Write at 0x00c000 by goroutine 7:", "  main.f()", "=================="}
	if !slices.Equal(reports, wantReports) {
		t.Errorf("reports %q\nwant %q", reports, wantReports)
	}
	if kept, _ := digest(log, 2, true); len(kept) != 3 || kept[0] != "[…]" {
		t.Errorf("bounded to 2: %q", kept)
	}
}
