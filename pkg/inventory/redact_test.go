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

package inventory

import (
	"strings"
	"testing"
)

func TestStripUserinfo(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://admin:secret@host:6443/prefix", "https://host:6443/prefix"},
		{"https://admin:p%zzsecret@host:6443/x", "https://host:6443/x"},
		{"https://a:p@ss@host", "https://host"},
		{"https://a:it's@host", "https://host"},
		{"admin:s3cret@10.0.0.1:6443", "10.0.0.1:6443"},
		{"https://[::1]:6443", "https://[::1]:6443"},
		{"https://u:p@[::1]:6443/x", "https://[::1]:6443/x"},
		{"https://host:6443", "https://host:6443"},
		{"host:6443", "host:6443"},
		{"https://admin:p%zz@host?q=@x", "https://host?q=@x"},
		// Characters a password must percent-encode, not encoded.
		{"https://u:p#ss@host:6443", "https://host:6443"},
		{"https://u:pa/ss@host/x", "https://host/x"},
		{"https://u:pa?ss@host", "https://host"},
		{"u:p#ss@10.0.0.1:6443", "10.0.0.1:6443"},
	}
	for _, tc := range tests {
		if got := StripUserinfo(tc.in); got != tc.want {
			t.Errorf("StripUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStripUserinfoKeepsString checks that a server without userinfo is
// given back as it is, not copied: every published Cluster holds one.
// Not parallel: AllocsPerRun counts every goroutine's allocations.
func TestStripUserinfoKeepsString(t *testing.T) {
	for _, server := range []string{"https://10.0.0.1:6443", "10.0.0.1:6443", "https://h:6443/path?q=1"} {
		in := strings.Clone(server)
		if n := testing.AllocsPerRun(10, func() { _ = StripUserinfo(in) }); n != 0 {
			t.Errorf("StripUserinfo(%q) allocates %v times", in, n)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`context "c": parse "https://admin:p%zzsecret@host:6443": invalid URL escape "%zz"`,
			`context "c": parse "https://host:6443": invalid URL escape "%zz"`},
		{`dial https://u:p@ss@host:1/x failed`, `dial https://host:1/x failed`},
		{`invalid 'proxy-url' "user:pass@proxy:3128"`, `invalid 'proxy-url' "proxy:3128"`},
		{`server=admin:s3cret@10.0.0.1:6443 is down`, `server=10.0.0.1:6443 is down`},
		{`no credential here: 10.0.0.1:6443, user@example.com`, `no credential here: 10.0.0.1:6443, user@example.com`},
		// Characters a password must percent-encode, not encoded.
		{`parse "http://user:p#ss@proxy:3128": invalid port`, `parse "http://proxy:3128": invalid port`},
		{`proxy-url http://u:pa/ss@proxy:3128 is invalid`, `proxy-url http://proxy:3128 is invalid`},
		{`two: https://a:b@one and 'https://c:d?e@two'`, `two: https://one and 'https://two'`},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
