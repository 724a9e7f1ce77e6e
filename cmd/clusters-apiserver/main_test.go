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
	"runtime/debug"
	"testing"
)

// TestSetGCPercent checks that the server lowers the collector's target
// unless the operator set GOGC, whatever its value ("off" included).
func TestSetGCPercent(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	for _, tc := range []struct {
		env  map[string]string
		want int
	}{
		{nil, defaultGCPercent},
		{map[string]string{"GOGC": "200"}, 100}, // the runtime read it at start; left alone
		{map[string]string{"GOGC": "off"}, 100},
		{map[string]string{"GOGC": ""}, 100},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGCPercent},
	} {
		debug.SetGCPercent(100)
		setGCPercent(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("with %v: GC percent %d, want %d", tc.env, got, tc.want)
		}
	}
}
