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

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// ownServer is a clusters-apiserver the bench runs itself, in place of the
// harness's, on the same port and with the same certificates, so that the
// hub's APIService reaches it.
type ownServer struct {
	cmd     *exec.Cmd
	done    chan struct{}
	started time.Time
	// readyAfter is how long /readyz took to answer 200.
	readyAfter time.Duration
	log        string
}

// startOwnServer stops the harness's clusters-apiserver, starts the binary
// with the harness's flags and extra, and waits for its /readyz.
func (b *bench) startOwnServer(ctx context.Context, name string, extra ...string) (*ownServer, error) {
	b.env.StopServer()
	pki := filepath.Join(b.env.WorkDir, "pki")
	args := append([]string{
		"--secure-port=" + strconv.Itoa(b.serverPort),
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + filepath.Join(pki, "clusters-apiserver-serving.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "clusters-apiserver-serving.key"),
		"--kubeconfig=" + b.env.ServerKubeconfig,
		"--authentication-kubeconfig=" + b.env.ServerKubeconfig,
		"--authorization-kubeconfig=" + b.env.ServerKubeconfig,
	}, slices.Concat(b.opts.extraServerArgs(), extra)...)
	s := &ownServer{log: filepath.Join(b.work, name+".log"), done: make(chan struct{})}
	out, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(b.serverBinary, args...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if b.opts.serverEnv != "" {
		s.cmd.Env = append(os.Environ(), strings.Split(b.opts.serverEnv, ",")...)
	}
	// Its own process group, killed if the bench dies.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	go func() {
		_ = s.cmd.Wait()
		out.Close()
		close(s.done)
	}()

	client := httpClient(b.clients.server)
	defer client.CloseIdleConnections()
	ready := b.clients.viaServer("/readyz")
	for {
		if _, err := get(ctx, client, ready); err == nil {
			s.readyAfter = time.Since(s.started)
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("clusters-apiserver exited early; see %s", s.log)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Since(s.started) > 3*time.Minute {
			s.stop()
			return nil, errors.New("clusters-apiserver was not ready within 3 minutes")
		}
	}
}

// pid is the server's process id.
func (s *ownServer) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM to the server's process group, then SIGKILL after 10 s,
// and waits for it to exit.
func (s *ownServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// waitHubServes nudges the hub to recheck the APIService, as the harness
// does, and waits until the hub serves the group again.
func (b *bench) waitHubServes(ctx context.Context) error {
	kube, err := hubKube(b.env)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench.clusters.headlamp.dev/started":%q}}}`, time.Now().Format(time.RFC3339Nano))
	if _, err := kube.CoreV1().Services(harness.ServerNamespace).Patch(ctx, harness.ServerName, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("touching the Service of the APIService: %w", err)
	}
	if err := b.waitOK(ctx, b.clients.viaHub("/apis/clusters.headlamp.dev/v1alpha1"), time.Minute); err != nil {
		return err
	}
	return b.waitDiscovered(ctx, time.Minute)
}

// waitDiscovered waits until the hub's aggregated discovery, which kubectl
// reads, lists clusters in the group, not as stale: the hub refreshes it
// apart from proxying, so a kubectl run right after the server changed
// could be told there is no resource type "clusters".
func (b *bench) waitDiscovered(ctx context.Context, timeout time.Duration) error {
	ep := b.clients.viaHub("/apis")
	client := httpClient(ep.tls)
	defer client.CloseIdleConnections()
	accept := http.Header{"Accept": {"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}}
	return retry(ctx, timeout, func() error {
		body, err := getBody(ctx, client, ep, accept)
		if err == nil && !discovered(body) {
			err = errors.New("the hub's discovery does not list clusters.headlamp.dev/v1alpha1 clusters as fresh")
		}
		return err
	})
}

// discovered tells whether an APIGroupDiscoveryList lists clusters in
// clusters.headlamp.dev/v1alpha1, not as stale.
func discovered(body []byte) bool {
	var l struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Versions []struct {
				Version   string `json:"version"`
				Freshness string `json:"freshness"`
				Resources []struct {
					Resource string `json:"resource"`
				} `json:"resources"`
			} `json:"versions"`
		} `json:"items"`
	}
	if json.Unmarshal(body, &l) != nil {
		return false
	}
	for _, g := range l.Items {
		if g.Metadata.Name != "clusters.headlamp.dev" {
			continue
		}
		for _, v := range g.Versions {
			if v.Version != "v1alpha1" || v.Freshness == "Stale" {
				continue
			}
			for _, r := range v.Resources {
				if r.Resource == "clusters" {
					return true
				}
			}
		}
	}
	return false
}
