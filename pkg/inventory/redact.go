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

// Userinfo in free text: after a scheme, see withoutUserinfo; without a
// scheme, a "user:password@" that follows a space, a quote, a parenthesis
// or "=".
var (
	scheme       = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)
	bareUserinfo = regexp.MustCompile(`(^|[\s"'(=])[^\s"'(=/?#@:]+:[^\s/?#]*@`)
)

// StripUserinfo returns server without a user:password@, whether or not
// it parses as a URL and whether or not it has a scheme: a Cluster shows
// where its member is, never a credential.
func StripUserinfo(server string) string {
	prefix, rest := "", server
	if i := strings.Index(server, "://"); i >= 0 {
		prefix, rest = server[:i+3], server[i+3:]
	}
	stripped := withoutUserinfo(rest)
	if len(stripped) == len(rest) {
		return server // the same string, not a copy of it for each Cluster
	}
	return prefix + stripped
}

// withoutUserinfo returns what follows a URL's "scheme://" without its
// userinfo: everything up to the last "@" before the first "/", "?" or
// "#" that follows the first "@". A password must percent-encode those
// three, but one that does not is still a password: "u:pa/ss@host" loses
// "u:pa/ss@". An "@" in a path or query with no userinfo before it takes
// what precedes it too, which hides a host rather than show a secret.
func withoutUserinfo(rest string) string {
	first := strings.IndexByte(rest, '@')
	if first < 0 {
		return rest
	}
	end := len(rest)
	if i := strings.IndexAny(rest[first:], "/?#"); i >= 0 {
		end = first + i
	}
	return rest[strings.LastIndexByte(rest[:end], '@')+1:]
}

// Redact removes the userinfo of every URL in a message, such as an error
// that quotes a server or proxy URL: a URL with a scheme ends at a space
// or a quote.
func Redact(message string) string {
	var b strings.Builder
	for {
		loc := scheme.FindStringIndex(message)
		if loc == nil {
			b.WriteString(message)
			break
		}
		b.WriteString(message[:loc[1]])
		rest := message[loc[1]:]
		end := strings.IndexAny(rest, " \t\r\n\"'`")
		if end < 0 {
			end = len(rest)
		}
		b.WriteString(withoutUserinfo(rest[:end]))
		message = rest[end:]
	}
	return bareUserinfo.ReplaceAllString(b.String(), "$1")
}
