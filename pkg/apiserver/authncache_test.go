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
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authentication/user"
)

type countingAuthenticator struct{ calls int }

func (c *countingAuthenticator) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	c.calls++
	name := req.Header.Get("X-Remote-User")
	if name == "" {
		name = user.Anonymous // as the anonymous authenticator at the end of the chain answers
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
}

func TestCachedCertAuthenticator(t *testing.T) {
	t.Parallel()
	headers := &authenticatorfactory.RequestHeaderConfig{
		UsernameHeaders:     headerrequest.StaticStringSlice{"X-Remote-User"},
		GroupHeaders:        headerrequest.StaticStringSlice{"X-Remote-Group"},
		ExtraHeaderPrefixes: headerrequest.StaticStringSlice{"X-Remote-Extra-"},
	}
	cert := &x509.Certificate{Raw: []byte("front-proxy-client"), NotAfter: time.Now().Add(time.Hour)}
	other := &x509.Certificate{Raw: []byte("someone-else"), NotAfter: time.Now().Add(time.Hour)}
	expiring := &x509.Certificate{Raw: []byte("expired"), NotAfter: time.Now().Add(-time.Second)}
	req := func(c *x509.Certificate, hdr ...string) *http.Request {
		r := &http.Request{Header: http.Header{}, TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	tests := []struct {
		name      string
		first     *http.Request
		second    *http.Request
		wantCalls int
	}{
		{"same certificate and identity: cached", req(cert, "X-Remote-User", "alice"), req(cert, "X-Remote-User", "alice"), 1},
		{"another user", req(cert, "X-Remote-User", "alice"), req(cert, "X-Remote-User", "bob"), 2},
		{"another group", req(cert, "X-Remote-User", "alice"), req(cert, "X-Remote-User", "alice", "X-Remote-Group", "admins"), 2},
		{"another extra", req(cert, "X-Remote-User", "a", "X-Remote-Extra-Scope", "x"), req(cert, "X-Remote-User", "a", "X-Remote-Extra-Scope", "y"), 2},
		{"another certificate", req(cert, "X-Remote-User", "alice"), req(other, "X-Remote-User", "alice"), 2},
		{"expired certificate: never cached", req(expiring, "X-Remote-User", "alice"), req(expiring, "X-Remote-User", "alice"), 2},
		{"bearer token: never cached", req(cert, "Authorization", "Bearer t"), req(cert, "Authorization", "Bearer t"), 2},
		{"anonymous: never cached", req(cert), req(cert), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			delegate := &countingAuthenticator{}
			a := NewCachedCertAuthenticator(delegate, headers, 10*time.Second)
			for _, r := range []*http.Request{tc.first, tc.second} {
				resp, ok, err := a.AuthenticateRequest(r)
				if want := r.Header.Get("X-Remote-User"); err != nil || !ok || (want != "" && resp.User.GetName() != want) {
					t.Fatalf("AuthenticateRequest = %v, %v, %v", resp, ok, err)
				}
			}
			if delegate.calls != tc.wantCalls {
				t.Errorf("delegate called %d times, want %d", delegate.calls, tc.wantCalls)
			}
		})
	}
}
