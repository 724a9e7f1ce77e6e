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

// Command local-up runs a hub kube-apiserver, member kube-apiservers and
// clusters-apiserver on 127.0.0.1 through the end-to-end harness, prints how
// to use them, and stops them all on SIGINT or SIGTERM. hack/local-up.sh
// builds and runs it; hack/local-down.sh stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// marker marks a work directory as local-up's own, so that a later run may
// delete it.
const marker = ".local-up"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "local-up:", err)
		os.Exit(1)
	}
}

func run() error {
	workDir := flag.String("work-dir", "_output/local-up", "directory for certificates, kubeconfigs, data and logs; emptied at start")
	binDir := flag.String("bin-dir", "_output/bin", "directory with kube-apiserver, kubectl and etcd")
	serverBinary := flag.String("server-binary", "_output/bin/clusters-apiserver", "clusters-apiserver binary; if missing, only the hub and members run")
	members := flag.Int("members", 2, "number of member clusters")
	replicas := flag.Int("replicas", 2, "clusters-apiserver replicas, with --leader-elect behind a router that sends each request to one at random when more than 1")
	var manifests stringList
	flag.Var(&manifests, "hub-manifest", "file or directory of manifests to apply to the hub before clusters-apiserver starts; repeatable")
	profileMember := flag.String("profile-member", "member-2", "member also published as ClusterProfile "+harness.ProfileNamespace+"/<member>, reached through the secretreader credential plugin in -bin-dir; needs the ClusterProfile CRD among -hub-manifest; empty for no ClusterProfile source")
	pidFile := flag.String("pid-file", "_output/local-up.pid", "file holding this process's id, for hack/local-down.sh")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags] [-- clusters-apiserver flags]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := writePIDFile(*pidFile); err != nil {
		return err
	}
	defer os.Remove(*pidFile)
	if err := resetWorkDir(*workDir); err != nil {
		return err
	}
	opts := harness.Options{
		WorkDir:      abs(*workDir),
		BinDir:       abs(*binDir),
		ServerArgs:   flag.Args(),
		Members:      *members,
		Replicas:     *replicas,
		HubManifests: manifests,
		Log:          func(format string, args ...any) { fmt.Fprintf(os.Stderr, "local-up: "+format+"\n", args...) },
	}
	if *profileMember != "" {
		opts.ClusterProfiles = &harness.ClusterProfileOptions{Publish: []string{*profileMember}}
	}
	if _, err := os.Stat(*serverBinary); err == nil {
		opts.ServerBinary = abs(*serverBinary)
	} else {
		opts.Log("no clusters-apiserver at %s: starting the hub and members only", *serverBinary)
	}

	start := time.Now()
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	env, err := harness.Start(startCtx, opts)
	cancel()
	if err != nil {
		return err
	}
	defer env.Stop()
	var node *harness.Node
	if len(env.Members) > 0 {
		// A node for member-1, so exec, attach, port-forward and logs
		// through the proxy can be tried for real.
		if node, err = env.StartNode(ctx, 0); err != nil {
			return err
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nReady in %s. In another shell:\n\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(&b, "  export KUBECONFIG=%s\n", env.HubKubeconfig)
	fmt.Fprintf(&b, "  %s get clusters\n\n", filepath.Join(*binDir, "kubectl"))
	fmt.Fprintf(&b, "Members kubeconfig (--kubeconfig-source): %s\n", env.MembersKubeconfig)
	for _, m := range env.Members {
		fmt.Fprintf(&b, "  %s: %s (admin kubeconfig %s)\n", m.Name, m.URL, m.Kubeconfig)
	}
	if node != nil {
		fmt.Fprintf(&b, "%s has node %s with pod %s/%s: its commands run on this machine, port %d echoes, e.g.\n", env.Members[0].Name, node.Name, node.Namespace, node.Pod, harness.EchoPort)
		fmt.Fprintf(&b, "  %s --server %s/apis/clusters.headlamp.dev/v1alpha1/clusters/%s/proxy exec %s -- uname -a\n", filepath.Join(*binDir, "kubectl"), env.HubURL, env.Members[0].Name, node.Pod)
	}
	if *profileMember != "" {
		fmt.Fprintf(&b, "ClusterProfile %s/%s publishes %s too (access providers: %s)\n", harness.ProfileNamespace, *profileMember, *profileMember, env.ProviderFile)
	}
	fmt.Fprintf(&b, "clusters-apiserver: %s, ServiceAccount kubeconfig %s\n", env.ServerURL, env.ServerKubeconfig)
	if env.Replicas() > 1 {
		fmt.Fprintf(&b, "  %d replicas with --leader-elect behind a router at that address:", env.Replicas())
		for i := range env.Replicas() {
			fmt.Fprintf(&b, " %s", env.ReplicaURL(i))
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "Logs: %s\n\nCtrl-C or hack/local-down.sh stops everything.\n", filepath.Join(env.WorkDir, "logs"))
	fmt.Print(b.String())

	<-ctx.Done()
	opts.Log("stopping")
	return nil
}

// writePIDFile records this process's id, refusing if another local-up
// still runs under the id in the file.
func writePIDFile(path string) error {
	if data, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && isLocalUp(pid) {
			return fmt.Errorf("local-up already runs as process %d; stop it with hack/local-down.sh", pid)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// isLocalUp reports whether process pid is a local-up.
func isLocalUp(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "local-up"
}

// resetWorkDir empties dir if an earlier local-up made it, and creates it.
// It refuses to touch a directory local-up did not make.
func resetWorkDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s is not empty and was not made by local-up; choose another -work-dir", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), nil, 0o600)
}

// abs makes path absolute, so that kubeconfig paths printed and passed to
// processes do not depend on the working directory.
func abs(path string) string {
	if p, err := filepath.Abs(path); err == nil {
		return p
	}
	return path
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
