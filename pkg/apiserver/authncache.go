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

package apiserver

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"strings"
	"time"

	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
)

// cachedCertAuthenticator remembers, for a short time, who a request that
// presents a client certificate (the hub's front-proxy certificate, with
// the user in request headers) authenticated as. Verifying the certificate
// chain is an ECDSA or RSA signature check on every request otherwise:
// about a third of this server's CPU per proxied request.
type cachedCertAuthenticator struct {
	delegate authenticator.Request
	headers  *authenticatorfactory.RequestHeaderConfig
	ttl      time.Duration
	cache    *utilcache.LRUExpireCache
}

// FrontProxyAuthnCacheTTL is how long the server remembers who a
// front-proxy request authenticated as.
const FrontProxyAuthnCacheTTL = 10 * time.Second

// NewCachedCertAuthenticator wraps delegate, the server's request
// authenticator, with the cache described at cachedCertAuthenticator;
// headers are the front-proxy request-header settings.
func NewCachedCertAuthenticator(delegate authenticator.Request, headers *authenticatorfactory.RequestHeaderConfig, ttl time.Duration) authenticator.Request {
	return &cachedCertAuthenticator{delegate: delegate, headers: headers, ttl: ttl, cache: utilcache.NewLRUExpireCache(4096)}
}

func (c *cachedCertAuthenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 || req.Header.Get("Authorization") != "" {
		return c.delegate.AuthenticateRequest(req)
	}
	key := c.key(req)
	if v, ok := c.cache.Get(key); ok {
		return v.(*authenticator.Response), true, nil
	}
	resp, ok, err := c.delegate.AuthenticateRequest(req)
	// The delegate ends with the anonymous authenticator: an anonymous
	// answer (say, before the front-proxy CA is loaded) must not stick.
	if err == nil && ok && resp != nil && resp.User != nil && resp.User.GetName() != user.Anonymous {
		ttl := c.ttl
		if left := time.Until(req.TLS.PeerCertificates[0].NotAfter); left < ttl {
			ttl = left
		}
		if ttl > 0 {
			c.cache.Add(key, resp, ttl)
		}
	}
	return resp, ok, err
}

// key is the certificate and every header the front-proxy authenticator
// reads.
func (c *cachedCertAuthenticator) key(req *http.Request) string {
	h := sha256.New()
	h.Write(req.TLS.PeerCertificates[0].Raw)
	var names []string
	add := func(list []string) { names = append(names, list...) }
	if c.headers != nil {
		add(values(c.headers.UsernameHeaders))
		add(values(c.headers.UIDHeaders))
		add(values(c.headers.GroupHeaders))
		for _, prefix := range values(c.headers.ExtraHeaderPrefixes) {
			for name := range req.Header {
				if strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) {
					names = append(names, name)
				}
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		h.Write([]byte{0})
		h.Write([]byte(strings.ToLower(name)))
		for _, v := range req.Header.Values(name) {
			h.Write([]byte{1})
			h.Write([]byte(v))
		}
	}
	return string(h.Sum(nil))
}

// values reads a header-name setting, which may be unset.
func values(p headerrequest.StringSliceProvider) []string {
	if p == nil {
		return nil
	}
	return p.Value()
}
