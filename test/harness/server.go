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
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

// serverTokenTTL is how long the ServiceAccount token of clusters-apiserver
// is valid: longer than any test or local-up session.
const serverTokenTTL = 24 * time.Hour

// server is clusters-apiserver as the harness runs it: one process, or
// Options.Replicas of them behind a router.
type server struct {
	port     int // the port the APIService names: the server's, or the router's
	serving  *keyPair
	caPEM    []byte
	replicas []*replica
	router   *router // with several replicas
	// extraArgs follow Options.ServerArgs (see RestartServerWith).
	extraArgs []string
}

// replica is one clusters-apiserver process.
type replica struct {
	port int
	log  string
	proc *process
}

// running tells whether the replica's process runs.
func (r *replica) running() bool { return r.proc != nil && !r.proc.exited() }

// register creates clusters-apiserver's serving certificate, registers it
// on the hub for localhost:port, and writes a kubeconfig with a token of
// its ServiceAccount.
func (e *Env) register(ctx context.Context, port int) error {
	ca, err := newCA(e.pkiDir, "clusters-apiserver-ca")
	if err != nil {
		return err
	}
	serving, err := ca.servingCert(e.pkiDir, "clusters-apiserver-serving", "localhost", "127.0.0.1", ServerDNSName)
	if err != nil {
		return err
	}
	e.server = &server{port: port, serving: serving, caPEM: ca.CertPEM}
	e.ServerURL, e.ServerCAFile = localURL(port), ca.CertFile
	if e.opts.Replicas > 1 {
		ports, err := freePorts(e.opts.Replicas)
		if err != nil {
			return err
		}
		for i, p := range ports {
			e.server.replicas = append(e.server.replicas, &replica{port: p, log: filepath.Join(e.logDir, fmt.Sprintf("clusters-apiserver-%d.log", i))})
		}
	} else {
		e.server.replicas = []*replica{{port: port, log: filepath.Join(e.logDir, "clusters-apiserver.log")}}
	}

	if err := e.applyRegistration(ctx, port, ca.CertPEM); err != nil {
		return err
	}
	cfg, err := e.HubRESTConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ttl := int64(serverTokenTTL / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(ServerNamespace).CreateToken(ctx, ServerName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", ServerNamespace, ServerName, err)
	}
	e.ServerKubeconfig = filepath.Join(e.WorkDir, "clusters-apiserver.kubeconfig")
	return writeKubeconfig(e.ServerKubeconfig, kubeconfigEntry{name: "hub", server: e.hub.url, caPEM: e.hub.ca.CertPEM, token: tr.Status.Token})
}

// StartServer starts clusters-apiserver (Options.ServerBinary) and waits
// until the hub serves its API group through the APIService.
func (e *Env) StartServer(ctx context.Context) error {
	if err := e.startServerProcess(); err != nil {
		return err
	}
	if err := e.waitServer(ctx); err != nil {
		return err
	}
	e.opts.Log("clusters-apiserver is available through the hub")
	return nil
}

// StartServerUnassisted starts clusters-apiserver and waits only for its
// own /readyz: nothing nudges the hub, so a test can observe how the hub
// and its clients recover on their own.
func (e *Env) StartServerUnassisted(ctx context.Context) error {
	if err := e.startServerProcess(); err != nil {
		return err
	}
	return e.waitReplicas(ctx)
}

// waitReplicas waits until every running replica answers /readyz, and
// routes to each from then on.
func (e *Env) waitReplicas(ctx context.Context) error {
	direct, err := httpsClient(e.server.caPEM, nil)
	if err != nil {
		return err
	}
	for i, r := range e.server.replicas {
		if !r.running() {
			continue
		}
		if err := waitHTTP200(ctx, fmt.Sprintf("clusters-apiserver replica %d to be ready", i), r.proc, direct, localURL(r.port)+"/readyz"); err != nil {
			return err
		}
		// Routed once ready, as an endpoint is.
		if e.server.router != nil {
			e.server.router.route(r.port, true)
		}
	}
	return nil
}

// startServerProcess starts clusters-apiserver, every replica of it that
// is not running, without waiting for them.
func (e *Env) startServerProcess() error {
	if e.opts.ServerBinary == "" {
		return errors.New("no clusters-apiserver binary: set Options.ServerBinary")
	}
	s := e.server
	if len(s.replicas) == 1 && s.replicas[0].running() {
		return errors.New("clusters-apiserver is already running")
	}
	if len(s.replicas) > 1 && s.router == nil {
		if err := e.startRouter(); err != nil {
			return err
		}
	}
	for i := range s.replicas {
		if !s.replicas[i].running() {
			if err := e.startReplica(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// startReplica starts replica i.
func (e *Env) startReplica(i int) error {
	s := e.server
	r := s.replicas[i]
	args := append([]string{
		"--secure-port=" + strconv.Itoa(r.port),
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + s.serving.CertFile,
		"--tls-private-key-file=" + s.serving.KeyFile,
		"--kubeconfig=" + e.ServerKubeconfig,
		"--authentication-kubeconfig=" + e.ServerKubeconfig,
		"--authorization-kubeconfig=" + e.ServerKubeconfig,
		"--kubeconfig-source=" + e.MembersKubeconfig,
	}, slices.Concat(e.profileArgs, e.replicaArgs(), e.opts.ServerArgs, s.extraArgs)...)
	name := "clusters-apiserver"
	if len(s.replicas) > 1 {
		name = fmt.Sprintf("clusters-apiserver replica %d", i)
	}
	e.opts.Log("starting %s", name)
	p, err := startProcess(name, r.log, e.opts.ServerBinary, args...)
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// ServerLog returns the path of clusters-apiserver's log file, which every
// run of it appends to.
func (e *Env) ServerLog() string {
	return e.server.replicas[0].log
}

// StopServer stops clusters-apiserver and waits for it to exit. The hub
// keeps running and keeps the APIService registered.
func (e *Env) StopServer() {
	if e.server == nil {
		return
	}
	var wg sync.WaitGroup
	for _, r := range e.server.replicas {
		if r.proc != nil {
			wg.Go(r.proc.stop)
		}
	}
	wg.Wait()
}

// ServerPID returns the process id of the running clusters-apiserver, or 0
// when it is not running.
func (e *Env) ServerPID() int {
	if e.server == nil || !e.server.replicas[0].running() {
		return 0
	}
	return e.server.replicas[0].proc.cmd.Process.Pid
}

// RestartServer stops clusters-apiserver and starts it again with the same
// flags, port and certificates, and waits until the hub serves it again.
func (e *Env) RestartServer(ctx context.Context) error {
	e.StopServer()
	return e.StartServer(ctx)
}

// RestartServerWith restarts clusters-apiserver as RestartServer does,
// with extra flags after Options.ServerArgs, until it is restarted with
// others; RestartServerWith(ctx) goes back to Options.ServerArgs alone.
func (e *Env) RestartServerWith(ctx context.Context, extra ...string) error {
	e.StopServer()
	e.server.extraArgs = extra
	return e.StartServer(ctx)
}

// waitServer waits until clusters-apiserver answers /readyz, then until
// the hub proxies its discovery document, which it does only once the
// APIService is Available.
func (e *Env) waitServer(ctx context.Context) error {
	s := e.server
	if err := e.waitReplicas(ctx); err != nil {
		return err
	}
	cfg, err := e.HubRESTConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	agg, err := aggregator.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The hub rechecks an unavailable APIService with a back-off of up to
	// 30 s. A change to its Service makes it check at once.
	if err := e.pokeService(ctx, kube); err != nil {
		return err
	}
	hub, err := httpsClient(e.hub.ca.CertPEM, e.hub.admin)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	discoveryURL := e.hub.url + "/apis/clusters.headlamp.dev/v1alpha1"
	if err := poll(ctx, "the hub to serve clusters.headlamp.dev/v1alpha1", s.replicas[0].proc, func(ctx context.Context) (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, discoveryURL, http.NoBody)
		if err != nil {
			return false, "", err
		}
		if resp, err := hub.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, "", nil
			}
		}
		return false, apiServiceCondition(ctx, agg), nil
	}); err != nil {
		return err
	}
	// kubectl reads the hub's aggregated discovery (/apis), which the hub
	// refreshes on its own after the APIService is available again.
	return poll(ctx, "the hub's aggregated discovery to list clusters", s.replicas[0].proc, func(context.Context) (bool, string, error) {
		_, lists, err := disc.ServerGroupsAndResources()
		for _, l := range lists {
			if l.GroupVersion == "clusters.headlamp.dev/v1alpha1" && slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Name == "clusters" }) {
				return true, "", nil
			}
		}
		if err != nil {
			return false, err.Error(), nil
		}
		return false, "clusters.headlamp.dev/v1alpha1 is not in the hub's discovery", nil
	})
}

// pokeService stamps an annotation on clusters-apiserver's Service.
func (e *Env) pokeService(ctx context.Context, kube kubernetes.Interface) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"harness.clusters.headlamp.dev/started":%q}}}`, time.Now().Format(time.RFC3339Nano))
	_, err := kube.CoreV1().Services(ServerNamespace).Patch(ctx, ServerName, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("touching Service %s/%s: %w", ServerNamespace, ServerName, err)
	}
	return nil
}

// apiServiceCondition describes the Available condition of the APIService.
func apiServiceCondition(ctx context.Context, agg aggregator.Interface) string {
	as, err := agg.ApiregistrationV1().APIServices().Get(ctx, APIServiceName, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	for _, c := range as.Status.Conditions {
		if c.Type == apiregistrationv1.Available {
			return fmt.Sprintf("APIService %s Available=%s: %s: %s", APIServiceName, c.Status, c.Reason, c.Message)
		}
	}
	return fmt.Sprintf("APIService %s has no Available condition yet", APIServiceName)
}
