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
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// setUp builds clusters-apiserver (unless given), starts the hub, two
// members and the server, and prepares the clients. On error the returned
// bench, if any, still needs tearDown.
func setUp(ctx context.Context, o options, logf func(string, ...any)) (*bench, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	if err := os.Chdir(root); err != nil {
		return nil, err
	}
	bin := filepath.Join(root, "_output", "bin")
	if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %s: run 'make binaries' (make bench does)", bin)
	}
	work, err := os.MkdirTemp("", "clusters-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{opts: o, logf: logf, work: work, report: newReport()}
	b.report.Machine.BackgroundBusyCores = busyCores(time.Second)
	if bg := b.report.Machine.BackgroundBusyCores; bg > 0.2 {
		logf("warning: something else keeps %.1f cores busy; the figures will be disturbed", bg)
	}

	b.serverBinary = o.serverBinary
	if b.serverBinary == "" {
		logf("building clusters-apiserver")
		if b.serverBinary, err = harness.BuildServer(ctx, work); err != nil {
			return b, err
		}
	}
	b.execSource = filepath.Join(work, "exec-source.kubeconfig")
	if err := os.WriteFile(b.execSource, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		return b, err
	}
	b.fleetSource = filepath.Join(work, "fleet-source.kubeconfig")
	if err := os.WriteFile(b.fleetSource, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		return b, err
	}
	sourceIdentity := filepath.Join(work, "source-identity.kubeconfig")
	if err := os.WriteFile(sourceIdentity, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		return b, err
	}
	crd, err := clusterProfileCRD()
	if err != nil {
		return b, err
	}

	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	b.env, err = harness.Start(startCtx, harness.Options{
		WorkDir:      filepath.Join(work, "env"),
		BinDir:       bin,
		ServerBinary: b.serverBinary,
		// The server's defaults, but for three more kubeconfig sources: for
		// scenarios 6 and 9, and one that reaches member-1 without
		// impersonation.
		ServerArgs: append([]string{
			"--kubeconfig-source=" + b.execSource,
			"--kubeconfig-source=" + b.fleetSource,
			"--kubeconfig-source=" + sourceIdentity,
			"--kubeconfig-source-identity=" + sourceIdentity + "=source",
		}, b.opts.extraServerArgs()...),
		Members:      2,
		HubManifests: []string{crd},
		Log:          func(format string, args ...any) { logf("harness: "+format, args...) },
	})
	if err != nil {
		return b, err
	}
	if b.serverPort, err = portOf(b.env.ServerURL); err != nil {
		return b, err
	}
	if b.memberPort, err = portOf(b.env.Members[0].URL); err != nil {
		return b, err
	}
	if b.clients, err = newClients(b.env); err != nil {
		return b, err
	}
	if err := writeSourceIdentity(b.env.MembersKubeconfig, sourceIdentity); err != nil {
		return b, err
	}
	if err := b.waitOK(ctx, b.clients.viaServer(harness.ProxyPath(sourceIdentityCluster, smallPath)), 30*time.Second); err != nil {
		return b, fmt.Errorf("waiting for cluster %s: %w", sourceIdentityCluster, err)
	}
	b.report.describe(ctx, b)
	return b, nil
}

// tearDown stops everything the run started and removes its files unless
// asked to keep them.
func (b *bench) tearDown() {
	if b.env != nil {
		b.env.Stop()
	}
	if b.opts.keep {
		b.logf("kept %s", b.work)
		return
	}
	_ = os.RemoveAll(b.work)
}

// sourceIdentityCluster is member-1 as a kubeconfig source with
// --kubeconfig-source-identity=PATH=source presents it: reached with
// member-1's admin credential alone, without impersonation.
const sourceIdentityCluster = "member-1-source"

// writeSourceIdentity writes member-1's context from the members
// kubeconfig to path as sourceIdentityCluster.
func writeSourceIdentity(members, path string) error {
	cfg, err := clientcmd.LoadFromFile(members)
	if err != nil {
		return err
	}
	out := clientcmdapi.NewConfig()
	out.Clusters[sourceIdentityCluster] = cfg.Clusters["member-1"]
	out.AuthInfos[sourceIdentityCluster] = cfg.AuthInfos["member-1"]
	out.Contexts[sourceIdentityCluster] = &clientcmdapi.Context{Cluster: sourceIdentityCluster, AuthInfo: sourceIdentityCluster}
	return clientcmd.WriteToFile(*out, path)
}

// clusterProfileCRD is the ClusterProfile CustomResourceDefinition of the
// cluster-inventory-api module in the build.
func clusterProfileCRD() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-inventory-api").Output()
	if err != nil {
		return "", fmt.Errorf("finding sigs.k8s.io/cluster-inventory-api: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "bases", "multicluster.x-k8s.io_clusterprofiles.yaml"), nil
}

// portOf returns the port of an https URL.
func portOf(rawURL string) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Port())
}

// clustersPath is the path of the clusters resource.
const clustersPath = "/apis/clusters.headlamp.dev/v1alpha1/clusters"
