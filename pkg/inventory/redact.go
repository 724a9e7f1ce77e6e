package inventory

import (
	"net/url"
	"regexp"
	"strings"
)

// userinfo matches the user:password@ of URLs in free text, whether or not
// the URL parses.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s"'@]*@`)

// StripUserinfo returns server without a user:password@, even when it
// does not parse as a URL: a Cluster shows where its member is, never a
// credential.
func StripUserinfo(server string) string {
	if u, err := url.Parse(server); err == nil {
		if u.User == nil {
			return server
		}
		u.User = nil
		return u.String()
	}
	if i := strings.Index(server, "://"); i >= 0 {
		rest := server[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			return server[:i+3] + rest[at+1:]
		}
	}
	return userinfo.ReplaceAllString(server, "$1")
}

// Redact removes the userinfo of every URL in a message, such as an error
// that quotes a server URL.
func Redact(message string) string {
	return userinfo.ReplaceAllString(message, "$1")
}
