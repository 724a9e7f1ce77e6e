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
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Options configures Start.
type Options struct {
	// WorkDir holds certificates, kubeconfigs, etcd data and process logs.
	// It must exist. Empty means a new temporary directory, removed by Stop.
	WorkDir string
	// BinDir holds kube-apiserver, kubectl and etcd. Empty means
	// _output/bin of the repository that contains the working directory.
	BinDir string
	// ServerBinary is the clusters-apiserver binary. Empty means the hub and
	// members start, and clusters-apiserver is registered but not run.
	ServerBinary string
	// ManifestsDir holds the deployment manifests that register
	// clusters-apiserver on the hub (see applyRegistration). Empty means
	// artifacts/deploy of the repository that contains the working
	// directory.
	ManifestsDir string
	// ServerArgs are passed to clusters-apiserver after the harness's flags.
	ServerArgs []string
	// Members is how many member kube-apiservers to run.
	Members int
	// Replicas, when more than 1, runs that many clusters-apiserver
	// replicas with --leader-elect behind a router that sends each request
	// to one of them at random (see router); the APIService names the
	// router. ReplicaArgs are added to their flags.
	Replicas    int
	ReplicaArgs []string
	// HubManifests are files or directories of manifests applied to the hub
	// with kubectl before clusters-apiserver starts, such as the
	// ClusterProfile CustomResourceDefinition. CRDs among them are
	// Established before Start goes on.
	HubManifests []string
	// ClusterProfiles, when set, runs clusters-apiserver with the
	// ClusterProfile source, its members reachable through the
	// secretreader credential plugin (see ClusterProfileOptions).
	ClusterProfiles *ClusterProfileOptions
	// Log reports progress. Nil means silence.
	Log func(format string, args ...any)
}

// Member is one member cluster: a kube-apiserver of its own.
type Member struct {
	// Name is the member's context, cluster and user name in
	// Env.MembersKubeconfig, e.g. "member-1".
	Name string
	// URL is the member kube-apiserver's https URL on 127.0.0.1.
	URL string
	// Kubeconfig is a kubeconfig with admin (system:masters) credentials
	// for this member alone.
	Kubeconfig string
}

// Env is a running hub, its members and, if asked for, clusters-apiserver.
type Env struct {
	// WorkDir holds everything the harness wrote; logs are in WorkDir/logs.
	WorkDir string
	// BinDir holds kube-apiserver, kubectl and etcd.
	BinDir string
	// HubURL is the hub kube-apiserver's https URL on 127.0.0.1.
	HubURL string
	// HubKubeconfig has admin (system:masters) credentials for the hub.
	HubKubeconfig string
	// MembersKubeconfig has one context per member with admin credentials;
	// clusters-apiserver is given it as --kubeconfig-source.
	MembersKubeconfig string
	// ServerKubeconfig has the token of the clusters-apiserver
	// ServiceAccount on the hub, which is all clusters-apiserver runs as.
	ServerKubeconfig string
	// ServerURL is clusters-apiserver's https URL on 127.0.0.1.
	ServerURL string
	// ServerCAFile is the CA that signed clusters-apiserver's serving
	// certificate, as given to the hub in the APIService's caBundle.
	ServerCAFile string
	// Members are the member clusters, in the order of their names.
	Members []Member
	// ProviderFile is clusters-apiserver's --clusterprofile-provider-file
	// when Options.ClusterProfiles is set.
	ProviderFile string

	opts         Options
	manifestsDir string
	pkiDir       string
	logDir       string
	tempDir      bool
	etcd         *process
	etcdURL      string
	hub          *cluster
	members      []*cluster
	server       *server
	kubelets     []*kubelet
	memberTokens []string // secretreader's tokens, by member
	profileArgs  []string // clusters-apiserver flags of the ClusterProfile source

	mu       sync.Mutex // guards userSeq
	userSeq  int
	stopOnce sync.Once
}

// Start starts etcd, the hub and opts.Members members, registers
// clusters-apiserver on the hub, and starts it if opts.ServerBinary is set.
// It returns once each is ready. On error everything it started is stopped.
func Start(ctx context.Context, opts Options) (_ *Env, err error) {
	if opts.Members < 0 {
		return nil, fmt.Errorf("Options.Members is %d; want 0 or more", opts.Members)
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	env := &Env{WorkDir: opts.WorkDir, BinDir: opts.BinDir, opts: opts}
	if env.BinDir == "" {
		if env.BinDir, err = defaultBinDir(); err != nil {
			return nil, err
		}
	}
	if env.manifestsDir = opts.ManifestsDir; env.manifestsDir == "" {
		if env.manifestsDir, err = defaultManifestsDir(); err != nil {
			return nil, err
		}
	}
	if env.WorkDir == "" {
		if env.WorkDir, err = os.MkdirTemp("", "clusters-harness-"); err != nil {
			return nil, fmt.Errorf("creating work directory: %w", err)
		}
		env.tempDir = true
	}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	env.pkiDir = filepath.Join(env.WorkDir, "pki")
	env.logDir = filepath.Join(env.WorkDir, "logs")
	for _, dir := range []string{env.pkiDir, env.logDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
	}

	// etcd client and peer, the hub, the members, clusters-apiserver.
	ports, err := freePorts(2 + 1 + opts.Members + 1)
	if err != nil {
		return nil, err
	}
	opts.Log("starting etcd")
	env.etcd, env.etcdURL, err = startEtcd(ctx, env.BinDir, filepath.Join(env.WorkDir, "etcd"), env.logDir, ports[0], ports[1])
	if err != nil {
		return nil, err
	}
	if err := env.startClusters(ctx, ports[2:3+opts.Members]); err != nil {
		return nil, err
	}
	if err := env.writeKubeconfigs(); err != nil {
		return nil, err
	}
	if err := env.bindHubAdmin(ctx); err != nil {
		return nil, err
	}
	if err := env.applyHubManifests(ctx); err != nil {
		return nil, err
	}
	opts.Log("registering clusters-apiserver on the hub")
	if err := env.register(ctx, ports[len(ports)-1]); err != nil {
		return nil, err
	}
	if opts.ClusterProfiles != nil {
		if err := env.setUpClusterProfiles(ctx); err != nil {
			return nil, err
		}
	}
	if opts.ServerBinary != "" {
		if err := env.StartServer(ctx); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// startClusters starts the hub on ports[0] and a member on each further
// port, in parallel: each kube-apiserver takes seconds to become ready.
func (e *Env) startClusters(ctx context.Context, ports []int) error {
	frontProxyCA, err := newCA(e.pkiDir, "front-proxy-ca")
	if err != nil {
		return err
	}
	proxyClient, err := frontProxyCA.clientCert(e.pkiDir, "front-proxy-client", "front-proxy-client")
	if err != nil {
		return err
	}
	configs := []clusterConfig{{name: "hub", agg: &aggregation{frontProxyCA: frontProxyCA, proxyClient: proxyClient}}}
	for i := 1; i < len(ports); i++ {
		configs = append(configs, clusterConfig{name: fmt.Sprintf("member-%d", i)})
	}
	clusters := make([]*cluster, len(configs))
	errs := make([]error, len(configs))
	var wg sync.WaitGroup
	for i, cfg := range configs {
		cfg.binDir, cfg.pkiDir, cfg.logDir, cfg.etcdURL, cfg.port = e.BinDir, e.pkiDir, e.logDir, e.etcdURL, ports[i]
		e.opts.Log("starting %s", cfg.name)
		wg.Go(func() { clusters[i], errs[i] = startCluster(ctx, cfg) })
	}
	wg.Wait()
	e.hub, e.members = clusters[0], clusters[1:]
	for _, c := range clusters {
		if c != nil {
			e.opts.Log("%s is ready at %s", c.name, c.url)
		}
	}
	return errors.Join(errs...)
}

// HubRESTConfig returns admin (system:masters) client configuration for
// the hub.
func (e *Env) HubRESTConfig() (*rest.Config, error) {
	return restConfig(e.HubKubeconfig)
}

// Stop stops clusters-apiserver, the members, the hub and etcd, waiting
// for each to exit, and removes the work directory if Start created it.
// It is safe to call more than once.
func (e *Env) Stop() {
	e.stopOnce.Do(func() {
		var wg sync.WaitGroup
		e.StopServer()
		if e.server != nil && e.server.router != nil {
			e.server.router.close()
		}
		for _, k := range e.kubelets {
			k.stop()
		}
		for _, c := range append([]*cluster{e.hub}, e.members...) {
			if c != nil {
				wg.Go(c.proc.stop)
			}
		}
		wg.Wait()
		if e.etcd != nil {
			e.etcd.stop()
		}
		if e.tempDir {
			_ = os.RemoveAll(e.WorkDir)
		}
	})
}

// LogDigest returns, from every process log, the lines that tell what
// happened to the processes and to the hub's view of this server, however
// long ago: each start and exit, each error the server logged, and each
// line where the hub speaks of the v1alpha1.clusters.headlamp.dev
// APIService (its availability checks): at most n lines per log, the last ones. And
// before them, whole, every race report, panic and fatal error.
func (e *Env) LogDigest(n int) string {
	entries, err := os.ReadDir(e.logDir)
	if err != nil {
		return err.Error()
	}
	var out strings.Builder
	for _, entry := range entries {
		path := filepath.Join(e.logDir, entry.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(&out, "--- %s: %v\n", path, err)
			continue
		}
		kept, reports := digest(string(data), n, strings.HasPrefix(entry.Name(), "hub"))
		if len(reports) > 0 {
			fmt.Fprintf(&out, "--- race reports, panics and fatal errors in %s:\n%s\n", path, strings.Join(reports, "\n"))
		}
		fmt.Fprintf(&out, "--- starts, exits, errors and the APIService in %s:\n%s\n", path, strings.Join(kept, "\n"))
	}
	return out.String()
}

// digest picks LogDigest's lines from one log.
func digest(data string, n int, hub bool) (kept, reports []string) {
	report := false // from a race report, panic or fatal error to the process's exit line
	for line := range strings.SplitSeq(data, "\n") {
		exit := strings.HasPrefix(line, "=== ")
		if strings.HasPrefix(line, "WARNING: DATA RACE") || strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			report = true
		}
		switch {
		case report && !exit:
			if len(reports) < 400 {
				reports = append(reports, line)
			}
		case exit || klogError(line) || hub && strings.Contains(line, "v1alpha1.clusters.headlamp.dev"):
			kept = append(kept, line)
		}
		report = report && !exit
	}
	if len(kept) > n {
		kept = append([]string{"[…]"}, kept[len(kept)-n:]...)
	}
	return kept, reports
}

// klogError reports whether line is a klog error line: "E" and the date.
func klogError(line string) bool {
	if len(line) < 5 || line[0] != 'E' {
		return false
	}
	for _, c := range line[1:5] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// LogTails returns the last n lines of every process log, for a failing
// test to print.
func (e *Env) LogTails(n int) string {
	entries, err := os.ReadDir(e.logDir)
	if err != nil {
		return err.Error()
	}
	var out string
	for _, entry := range entries {
		path := filepath.Join(e.logDir, entry.Name())
		out += fmt.Sprintf("--- last lines of %s:\n%s\n", path, tailFile(path, n))
	}
	return out
}

// RepoRoot returns the root of the repository that contains the working
// directory: the nearest directory above it with a go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// defaultBinDir is _output/bin of the repository, where
// hack/build-binaries.sh puts its binaries.
func defaultBinDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding _output/bin: %w; set Options.BinDir", err)
	}
	return filepath.Join(root, "_output", "bin"), nil
}
