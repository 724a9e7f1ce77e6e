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
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// EchoPort is the pod port that port-forward reaches on a node's pod: a
// TCP echo server on 127.0.0.1. Other ports have nothing listening.
const EchoPort = 8080

// kubelet is the kubelet endpoint of a member's node: an HTTPS server on
// 127.0.0.1 that serves exec, attach and port-forward with the streaming
// servers of k8s.io/cri-streaming, as the kubelet does, over a runtime
// that runs real local commands, plus /containerLogs. It accepts only
// client certificates of the member's CA, as a kubelet accepts the
// member kube-apiserver's.
type kubelet struct {
	srv  *http.Server
	ln   net.Listener
	echo net.Listener

	mu   sync.Mutex
	seen []string // path?query of each request, in order
}

// startKubelet serves a kubelet on 127.0.0.1 with serving, trusting
// client certificates signed by clientCA.
func startKubelet(serving *keyPair, clientCA []byte) (*kubelet, error) {
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(clientCA) {
		return nil, errors.New("no CA certificate for the kubelet's clients")
	}
	echo, err := startEcho()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	})
	if err != nil {
		echo.Close()
		return nil, err
	}
	k := &kubelet{ln: ln, echo: echo}
	rt := &localRuntime{echoAddr: echo.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", k.record(func(w http.ResponseWriter, req *http.Request, ns, pod, container string) {
		opts, err := remotecommand.NewOptions(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeExec(w, req, rt, pod, "", container, req.URL.Query()["command"], opts,
			time.Hour, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}))
	mux.HandleFunc("/attach/", k.record(func(w http.ResponseWriter, req *http.Request, ns, pod, container string) {
		opts, err := remotecommand.NewOptions(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		remotecommand.ServeAttach(w, req, rt, pod, "", container, opts,
			time.Hour, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}))
	mux.HandleFunc("/portForward/", k.record(func(w http.ResponseWriter, req *http.Request, ns, pod, _ string) {
		opts, err := portforward.NewV4Options(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		portforward.ServePortForward(w, req, rt, pod, "", opts,
			time.Hour, remotecommand.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
	}))
	mux.HandleFunc("/containerLogs/", k.record(serveLogs))
	mux.HandleFunc("/", k.record(func(w http.ResponseWriter, req *http.Request, _, _, _ string) {
		http.NotFound(w, req)
	}))
	k.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = k.srv.Serve(ln) }()
	return k, nil
}

// port is the kubelet's port on 127.0.0.1.
func (k *kubelet) port() int { return k.ln.Addr().(*net.TCPAddr).Port }

// stop closes the kubelet, its streams and the echo server.
func (k *kubelet) stop() {
	_ = k.srv.Close()
	_ = k.echo.Close()
}

// requests returns path?query of every request the kubelet got.
func (k *kubelet) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

// record records each request and calls h with the namespace, pod and
// container of a kubelet path: /VERB/NAMESPACE/POD[/UID]/CONTAINER.
func (k *kubelet) record(h func(w http.ResponseWriter, req *http.Request, ns, pod, container string)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		k.mu.Lock()
		k.seen = append(k.seen, req.URL.RequestURI())
		k.mu.Unlock()
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		var ns, pod, container string
		if len(parts) >= 3 {
			ns, pod = parts[1], parts[2]
		}
		if len(parts) >= 4 {
			container = parts[len(parts)-1]
		}
		h(w, req, ns, pod, container)
	}
}

// serveLogs writes three lines and, with follow=true, one more a second
// until the client goes away.
func serveLogs(w http.ResponseWriter, req *http.Request, _, pod, container string) {
	w.Header().Set("Content-Type", "text/plain")
	flusher, _ := w.(http.Flusher)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "%s/%s log line %d\n", pod, container, i)
	}
	if req.URL.Query().Get("follow") != "true" {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-req.Context().Done():
			return
		case <-tick.C:
			fmt.Fprintf(w, "%s/%s tick %d\n", pod, container, i)
		}
	}
}

// localRuntime runs a pod's exec commands as local processes, echoes
// attached stdin back, and forwards EchoPort to a local echo server.
type localRuntime struct {
	echoAddr string
}

// ExecInContainer implements remotecommand.Executor.
func (r *localRuntime) ExecInContainer(ctx context.Context, _, _, _ string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) == 0 {
		return errors.New("no command")
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...) // #nosec G204 -- the test's own commands
	if in != nil {
		c.Stdin = in
	}
	if out != nil {
		c.Stdout = out
	}
	switch {
	case errOut != nil:
		c.Stderr = errOut
	case tty && out != nil:
		c.Stderr = out
	}
	// A command that exits while its stdin stream stays open must not
	// wait for that stream forever.
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

// AttachContainer implements remotecommand.Attacher: the pod's main
// process echoes its stdin; without stdin it says hello and waits.
func (r *localRuntime) AttachContainer(ctx context.Context, _, _, container string, in io.Reader, out, _ io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize) error {
	if out == nil {
		<-ctx.Done()
		return nil
	}
	if in == nil {
		fmt.Fprintf(out, "attached to %s\n", container)
		<-ctx.Done()
		return nil
	}
	_, err := io.Copy(out, in)
	return err
}

// PortForward implements portforward.PortForwarder.
func (r *localRuntime) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port != EchoPort {
		return fmt.Errorf("nothing listens on port %d in the pod", port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.echoAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	<-done
	return nil
}

// startEcho starts a TCP server on 127.0.0.1 that writes back every byte
// it reads, on each connection.
func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			}()
		}
	}()
	return ln, nil
}
