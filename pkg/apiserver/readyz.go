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
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	certutil "k8s.io/client-go/util/cert"
)

// frontProxyCACheck is a readyz check that passes once the hub's
// front-proxy requests can be authenticated: the request-header names are
// loaded, and this server's TLS handshakes offer the front-proxy CA. Both
// are read from kube-system/extension-apiserver-authentication by
// controllers that sync after the server starts; until then the hub's
// requests are served as anonymous (Go clients, the hub among them, send no
// client certificate when the server does not list its CA). Only a
// handshake tells about the CA, so the check makes one to this server until
// it passes, then passes for good.
type frontProxyCACheck struct {
	ca       dynamiccertificates.CAContentProvider
	userHdrs headerrequest.StringSliceProvider
	addr     net.Addr
	ok       atomic.Bool
}

// Name implements healthz.HealthChecker.
func (c *frontProxyCACheck) Name() string { return "front-proxy-ca" }

// Check implements healthz.HealthChecker.
func (c *frontProxyCACheck) Check(*http.Request) error {
	if c.ok.Load() {
		return nil
	}
	if c.userHdrs == nil || len(c.userHdrs.Value()) == 0 {
		return fmt.Errorf("the hub's front-proxy request-header names are not loaded yet")
	}
	subjects, err := caSubjects(c.ca.CurrentCABundleContent())
	if err != nil || len(subjects) == 0 {
		return fmt.Errorf("the hub's front-proxy (requestheader) client CA is not loaded yet")
	}
	offered := false
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", dialable(c.addr), &tls.Config{
		// Only the server's certificate request is looked at: no request
		// is sent, so the server's certificate needs no verification.
		InsecureSkipVerify: true, //nolint:gosec
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for _, name := range cri.AcceptableCAs {
				for _, s := range subjects {
					offered = offered || bytes.Equal(name, s)
				}
			}
			return &tls.Certificate{}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("checking this server's TLS handshake: %w", err)
	}
	_ = conn.Close()
	if !offered {
		return fmt.Errorf("TLS handshakes do not offer the hub's front-proxy CA yet")
	}
	c.ok.Store(true)
	return nil
}

// caSubjects returns the raw subjects of the certificates in a PEM bundle.
func caSubjects(bundle []byte) ([][]byte, error) {
	if len(bundle) == 0 {
		return nil, nil
	}
	pool, err := certutil.ParseCertsPEM(bundle)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, cert := range pool {
		out = append(out, cert.RawSubject)
	}
	return out, nil
}

// dialable turns a listener address into one to dial: an unspecified IP
// becomes the loopback address of its family.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if tcp.IP != nil && tcp.IP.To4() == nil {
			ip = net.IPv6loopback
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port))
}
