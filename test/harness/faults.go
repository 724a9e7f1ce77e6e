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
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"syscall"
)

// The faults a test can inject into the hub and the members: a hub that
// restarts, a member that crashes, and a member that accepts connections and
// never answers.

// RestartHub stops the hub kube-apiserver as a rolling update does
// (SIGTERM, then its graceful shutdown) and starts it again with the same
// flags, certificates and etcd, waiting until it is ready. Everything
// stored on the hub stays; every connection to it breaks.
func (e *Env) RestartHub(ctx context.Context) error {
	e.opts.Log("restarting the hub")
	e.hub.proc.stop()
	return e.hub.start(ctx)
}

// KillMember kills the kube-apiserver of Members[i] with SIGKILL, as a
// crash or a lost machine does: its open streams end without a goodbye.
// StartMember brings it back.
func (e *Env) KillMember(i int) {
	p := e.members[i].proc
	if p.signalGroup(syscall.SIGKILL) {
		<-p.done
	}
}

// SilenceMember stops the kube-apiserver of Members[i] and puts a stand-in
// on its port that completes the TLS handshake with the member's own
// serving certificate, reads requests and never answers: a member that is
// overloaded, hung, or behind a proxy that black-holes it. The returned
// function closes the stand-in and its connections; StartMember brings the
// member back after it.
func (e *Env) SilenceMember(i int) (func(), error) {
	c := e.members[i]
	c.proc.stop()
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(c.serving.CertPEM, c.serving.KeyPEM)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", u.Host, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("listening on %s's port: %w", c.name, err)
	}
	e.opts.Log("%s is silent: it accepts connections and never answers", c.name)
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = conn.Close()
				return
			}
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Read whatever comes, answer nothing, until closed.
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for _, conn := range conns {
			_ = conn.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}
