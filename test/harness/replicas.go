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
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// replicaArgs are the flags that make several replicas share one Cluster
// API: leader election on the hub, and Options.ReplicaArgs.
func (e *Env) replicaArgs() []string {
	if len(e.server.replicas) < 2 {
		return nil
	}
	return append([]string{"--leader-elect", "--leader-elect-namespace=" + ServerNamespace}, e.opts.ReplicaArgs...)
}

// startRouter starts the router in front of the replicas, on the port the
// APIService names.
func (e *Env) startRouter() error {
	s := e.server
	serving, err := tls.LoadX509KeyPair(s.serving.CertFile, s.serving.KeyFile)
	if err != nil {
		return err
	}
	client, err := tls.LoadX509KeyPair(filepath.Join(e.pkiDir, "front-proxy-client.crt"), filepath.Join(e.pkiDir, "front-proxy-client.key"))
	if err != nil {
		return fmt.Errorf("loading the hub's front-proxy client certificate: %w", err)
	}
	frontProxyCA, err := certPool(filepath.Join(e.pkiDir, "front-proxy-ca.crt"))
	if err != nil {
		return err
	}
	servingCA := x509.NewCertPool()
	servingCA.AppendCertsFromPEM(s.caPEM)
	s.router, err = startRouter(s.port, serving, frontProxyCA, servingCA, client)
	return err
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", file)
	}
	return pool, nil
}

// Replicas returns how many clusters-apiserver processes the harness runs.
func (e *Env) Replicas() int { return len(e.server.replicas) }

// ReplicaURL returns the https URL of replica i, past the router.
func (e *Env) ReplicaURL(i int) string { return localURL(e.server.replicas[i].port) }

// ReplicaLog returns the log file of replica i.
func (e *Env) ReplicaLog(i int) string { return e.server.replicas[i].log }

// ReplicaRunning tells whether replica i runs.
func (e *Env) ReplicaRunning(i int) bool { return e.server.replicas[i].running() }

// KillReplica takes replica i out of the router and kills it with
// SIGKILL, as a lost node does: it releases nothing, its Lease included.
func (e *Env) KillReplica(i int) {
	r := e.server.replicas[i]
	if e.server.router != nil {
		e.server.router.route(r.port, false)
	}
	if r.proc != nil && r.proc.signalGroup(syscall.SIGKILL) {
		<-r.proc.done
	}
}

// StopReplica takes replica i out of the router and stops it as a rolling
// update does (SIGTERM, then its graceful shutdown).
func (e *Env) StopReplica(i int) {
	r := e.server.replicas[i]
	if e.server.router != nil {
		e.server.router.route(r.port, false)
	}
	if r.proc != nil {
		r.proc.stop()
	}
}

// StartReplica starts replica i again and waits until it is ready.
func (e *Env) StartReplica(ctx context.Context, i int) error {
	if e.server.replicas[i].running() {
		return fmt.Errorf("replica %d is already running", i)
	}
	if err := e.startReplica(i); err != nil {
		return err
	}
	return e.waitReplicas(ctx)
}

// ReplicaWatches returns how many watches the router holds open to replica
// i for clients whose User-Agent starts with userAgent (the hub passes the
// client's on): "kubectl/" for kubectl.
func (e *Env) ReplicaWatches(i int, userAgent string) int {
	if e.server.router == nil {
		return 0
	}
	return e.server.router.watchesOn(e.server.replicas[i].port, userAgent)
}

// RoutedRequests returns how many requests the router has sent to the
// replicas.
func (e *Env) RoutedRequests() int64 {
	if e.server.router == nil {
		return 0
	}
	return e.server.router.served.Load()
}

// ReplicaGet sends GET path to replica i directly, past the router and the
// hub, as the hub's aggregation layer does for its admin (system:masters),
// and returns the status code and body.
func (e *Env) ReplicaGet(ctx context.Context, i int, path string) (int, []byte, error) {
	cfg, headers, err := e.FrontProxyTLS()
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ReplicaURL(i)+path, http.NoBody)
	if err != nil {
		return 0, nil, err
	}
	maps.Copy(req.Header, headers)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// ReplicaMetric returns the sum of the samples of metric name (with any
// labels) on replica i's /metrics; 0 when there are none.
func (e *Env) ReplicaMetric(ctx context.Context, i int, name string) (float64, error) {
	code, body, err := e.ReplicaGet(ctx, i, "/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics of replica %d: %d %s", i, code, body)
	}
	var sum float64
	for line := range strings.SplitSeq(string(body), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || strings.HasPrefix(line, "#") {
			continue
		}
		metric, _, _ := strings.Cut(fields[0], "{")
		if metric != name {
			continue
		}
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		sum += v
	}
	return sum, nil
}

// Leader returns the index of the replica that leads (whose clusters_leader
// metric is 1), or -1 when none does; an error if more than one does.
func (e *Env) Leader(ctx context.Context) (int, error) {
	leader := -1
	for i := range e.server.replicas {
		if !e.ReplicaRunning(i) {
			continue
		}
		v, err := e.ReplicaMetric(ctx, i, "clusters_leader")
		if err != nil {
			return -1, err
		}
		if v == 1 {
			if leader >= 0 {
				return -1, fmt.Errorf("replicas %d and %d both lead", leader, i)
			}
			leader = i
		}
	}
	return leader, nil
}

// UseServer sets the clusters-apiserver binary of an environment started
// without one, for StartServer or RestartServerWith to run (with flags
// that may name files written after Start).
func (e *Env) UseServer(binary string) { e.opts.ServerBinary = binary }
