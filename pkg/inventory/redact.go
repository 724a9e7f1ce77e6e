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
	"regexp"
	"strings"
)

// Userinfo in free text: after a scheme, everything up to the last "@"
// before the host; without a scheme, a "user:password@" that follows a
// space, a quote, a parenthesis or "=".
var (
	schemeUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@`)
	bareUserinfo   = regexp.MustCompile(`(^|[\s"'(=])[^\s"'(=/?#@:]+:[^\s/?#]*@`)
)

// StripUserinfo returns server without a user:password@, whether or not
// it parses as a URL and whether or not it has a scheme: a Cluster shows
// where its member is, never a credential.
func StripUserinfo(server string) string {
	prefix, rest := "", server
	if i := strings.Index(server, "://"); i >= 0 {
		prefix, rest = server[:i+3], server[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return prefix + rest[at+1:]
	}
	return server
}

// Redact removes the userinfo of every URL in a message, such as an error
// that quotes a server or proxy URL.
func Redact(message string) string {
	message = schemeUserinfo.ReplaceAllString(message, "$1")
	return bareUserinfo.ReplaceAllString(message, "$1")
}
