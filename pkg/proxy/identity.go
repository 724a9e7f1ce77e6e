package proxy

import (
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// stripped are headers that identify or authorize the caller to this
// server. The proxy never forwards them: the member must see only the
// source credential and, when impersonating, the identity the hub
// authenticated.
var strippedPrefixes = []string{"Impersonate-", "X-Remote-"}

var strippedHeaders = []string{"Authorization", "Cookie", "Proxy-Authorization"}

// scrubHeaders removes every header that identifies or authorizes the
// caller.
func scrubHeaders(h http.Header) {
	for _, name := range strippedHeaders {
		h.Del(name)
	}
	for name := range h {
		for _, prefix := range strippedPrefixes {
			if strings.HasPrefix(name, prefix) {
				delete(h, name)
			}
		}
	}
}

// impersonate sets the headers that make the member act as u. The member
// adds system:authenticated itself, and impersonating it explicitly is
// refused by some authorizers, so it is left out.
func impersonate(h http.Header, u user.Info) {
	h.Set(authenticationv1.ImpersonateUserHeader, u.GetName())
	if uid := u.GetUID(); uid != "" {
		h.Set(authenticationv1.ImpersonateUIDHeader, uid)
	}
	for _, g := range u.GetGroups() {
		if g != user.AllAuthenticated {
			h.Add(authenticationv1.ImpersonateGroupHeader, g)
		}
	}
	for k, vs := range u.GetExtra() {
		for _, v := range vs {
			h.Add(authenticationv1.ImpersonateUserExtraHeaderPrefix+escapeExtraKey(k), v)
		}
	}
}

// escapeExtraKey percent-encodes an extra key so that it is a valid header
// name, the way client-go does and kube-apiserver decodes.
func escapeExtraKey(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if isTokenChar(c) && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%")
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// isTokenChar reports whether c may appear in an HTTP header name (RFC 7230
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
