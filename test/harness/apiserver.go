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
	"fmt"
	"path/filepath"
	"strconv"
)

// cluster is one kube-apiserver the harness runs: the hub or a member.
type cluster struct {
	name  string
	url   string
	ca    *certAuthority // signs its serving certificate and its client certificates
	admin *keyPair       // a system:masters client certificate
	// serving is its serving certificate, which a silenced member's
	// stand-in presents (see SilenceMember).
	serving *keyPair
	proc    *process

	// What start needs to run the same kube-apiserver again: same port,
	// certificates and etcd prefix.
	bin     string
	args    []string
	logFile string
}

// aggregation is what the hub needs to proxy to aggregated API servers:
// the CA extension servers trust for request headers, and the client
// certificate the hub presents to them.
type aggregation struct {
	frontProxyCA *certAuthority
	proxyClient  *keyPair
}

// clusterConfig says how to start one kube-apiserver.
type clusterConfig struct {
	name    string
	binDir  string
	pkiDir  string
	logDir  string
	etcdURL string
	port    int
	agg     *aggregation // nil for members
}

// startCluster creates the certificates of one kube-apiserver, starts it on
// 127.0.0.1:cfg.port and waits until /readyz answers OK.
func startCluster(ctx context.Context, cfg clusterConfig) (*cluster, error) {
	ca, err := newCA(cfg.pkiDir, cfg.name+"-ca")
	if err != nil {
		return nil, err
	}
	serving, err := ca.servingCert(cfg.pkiDir, cfg.name+"-serving", "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	admin, err := ca.clientCert(cfg.pkiDir, cfg.name+"-admin", "admin", "system:masters")
	if err != nil {
		return nil, err
	}
	saKey, saPub, err := newServiceAccountKey(cfg.pkiDir, cfg.name+"-sa")
	if err != nil {
		return nil, err
	}
	port := cfg.port
	url := localURL(port)

	args := []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		// A loopback advertise address is refused for endpoints, so the
		// kubernetes Service keeps none: nothing here reaches the hub by it.
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--etcd-servers=" + cfg.etcdURL,
		"--etcd-prefix=/" + cfg.name,
		"--tls-cert-file=" + serving.CertFile,
		"--tls-private-key-file=" + serving.KeyFile,
		"--client-ca-file=" + ca.CertFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--profiling=false",
	}
	if cfg.agg == nil {
		// Members reach the kubelet endpoints of their nodes (see
		// StartNode) as kube-apiserver reaches kubelets.
		kubeletClient, err := ca.clientCert(cfg.pkiDir, cfg.name+"-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
		if err != nil {
			return nil, err
		}
		args = append(args,
			"--kubelet-client-certificate="+kubeletClient.CertFile,
			"--kubelet-client-key="+kubeletClient.KeyFile,
			"--kubelet-certificate-authority="+ca.CertFile,
		)
	}
	if a := cfg.agg; a != nil {
		args = append(args,
			"--requestheader-client-ca-file="+a.frontProxyCA.CertFile,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-username-headers=X-Remote-User",
			"--requestheader-uid-headers=X-Remote-Uid",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--proxy-client-cert-file="+a.proxyClient.CertFile,
			"--proxy-client-key-file="+a.proxyClient.KeyFile,
			// Aggregator routing would dial the Service's endpoints, which
			// cannot be loopback addresses; without it the hub dials the
			// ExternalName Service's host name, localhost.
			"--enable-aggregator-routing=false",
		)
	}
	c := &cluster{
		name: cfg.name, url: url, ca: ca, admin: admin, serving: serving,
		bin: filepath.Join(cfg.binDir, "kube-apiserver"), args: args, logFile: filepath.Join(cfg.logDir, cfg.name+".log"),
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// start runs the cluster's kube-apiserver and waits until /readyz answers
// OK; it stops it again if it does not.
func (c *cluster) start(ctx context.Context) error {
	p, err := startProcess(c.name, c.logFile, c.bin, c.args...)
	if err != nil {
		return err
	}
	c.proc = p
	client, err := httpsClient(c.ca.CertPEM, c.admin)
	if err != nil {
		p.stop()
		return err
	}
	if err := waitHTTP200(ctx, fmt.Sprintf("%s to be ready", c.name), p, client, c.url+"/readyz"); err != nil {
		p.stop()
		return err
	}
	return nil
}

// StopMember stops the kube-apiserver of Members[i] and waits for it to
// exit. Its objects stay in etcd; StartMember brings it back.
func (e *Env) StopMember(i int) {
	e.members[i].proc.stop()
}

// StartMember starts the kube-apiserver of Members[i] again, stopped by
// StopMember, with the same port, certificates and etcd prefix, and waits
// until it is ready.
func (e *Env) StartMember(ctx context.Context, i int) error {
	c := e.members[i]
	if !c.proc.exited() {
		return fmt.Errorf("%s is already running", c.name)
	}
	e.opts.Log("starting %s again", c.name)
	return c.start(ctx)
}
