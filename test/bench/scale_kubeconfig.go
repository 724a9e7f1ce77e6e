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
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// inventoryScale is scenario 5: a kubeconfig source with -scale contexts,
// then -scale ClusterProfiles on the hub, each served by a clusters-apiserver
// of the bench's own (in place of the harness's, so the hub reaches it).
func (b *bench) inventoryScale(ctx context.Context) error {
	targets := []string{b.opts.scaleTarget}
	switch b.opts.scaleTarget {
	case "both":
		targets = []string{"member", "closed"}
	case "all":
		targets = []string{"member", "closed", "dir"}
	}
	for _, target := range targets {
		kc, err := b.scaleKubeconfig(ctx, target)
		if err != nil {
			return err
		}
		b.report.figure("5-scale-kubeconfig-"+target, kc)
	}
	cp, err := b.scaleProfiles(ctx)
	if err != nil {
		return err
	}
	b.report.figure("5-scale-clusterprofiles", cp)
	return nil
}

// dirFiles is how many files the "dir" target splits its contexts into.
const dirFiles = 100

// scaleKubeconfig measures a kubeconfig source of -scale contexts, each
// with its own cluster and user entry (member-1's CA and admin certificate,
// inline), pointing at member-1 or at a closed port: one file, or for the
// "dir" target a directory of dirFiles files (contexts → member-1), as
// the README advises for large fleets: a change reads its file only.
func (b *bench) scaleKubeconfig(ctx context.Context, target string) (scaleFigures, error) {
	where := map[string]string{"member": "member-1", "closed": "a closed port", "dir": "member-1"}[target]
	f := scaleFigures{Source: "a kubeconfig file (contexts → " + where + ")", Clusters: b.opts.scale}
	files := 1
	if target == "dir" {
		files = dirFiles
		f.Source = fmt.Sprintf("a kubeconfig directory of %d files (contexts → %s)", files, where)
	}
	members, err := clientcmd.LoadFromFile(b.env.MembersKubeconfig)
	if err != nil {
		return f, err
	}
	server := b.env.Members[0].URL
	if target == "closed" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return f, err
		}
		server = "https://" + l.Addr().String()
		l.Close()
	}
	cluster, user := members.Clusters["member-1"], members.AuthInfos["member-1"]
	ca := base64.StdEncoding.EncodeToString(cluster.CertificateAuthorityData)
	cert := base64.StdEncoding.EncodeToString(user.ClientCertificateData)
	key := base64.StdEncoding.EncodeToString(user.ClientKeyData)
	source := filepath.Join(b.work, "scale-"+target+".kubeconfig")
	perFile := (f.Clusters + files - 1) / files
	pathOf := func(i int) string { return source } // of the file with context i
	if files > 1 {
		source = filepath.Join(b.work, "scale-"+target)
		if err := os.MkdirAll(source, 0o755); err != nil {
			return f, err
		}
		pathOf = func(i int) string { return filepath.Join(source, fmt.Sprintf("part-%03d", i/perFile)) }
	}
	// write writes the file of contexts [lo, hi), with context changed's
	// server spelled with host instead of 127.0.0.1, beside the source (so
	// that a directory source sees no file being written) and renames it
	// into place as config tools do. It returns when it renamed it.
	write := func(lo, hi, changed int, host string) (time.Time, error) {
		tmp := filepath.Join(b.work, "scale-"+target+".tmp")
		out, err := os.Create(tmp)
		if err != nil {
			return time.Time{}, err
		}
		w := bufio.NewWriterSize(out, 1<<20)
		fmt.Fprintf(w, "apiVersion: v1\nkind: Config\ncurrent-context: bench-%05d\nclusters:\n", lo)
		for i := lo; i < hi; i++ {
			s := server
			if i == changed {
				s = strings.Replace(server, "127.0.0.1", host, 1)
			}
			fmt.Fprintf(w, "- name: bench-%05d\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", i, s, ca)
		}
		fmt.Fprintf(w, "users:\n")
		for i := lo; i < hi; i++ {
			fmt.Fprintf(w, "- name: bench-%05d\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n", i, cert, key)
		}
		fmt.Fprintf(w, "contexts:\n")
		for i := lo; i < hi; i++ {
			fmt.Fprintf(w, "- name: bench-%05d\n  context:\n    cluster: bench-%05d\n    user: bench-%05d\n", i, i, i)
		}
		if err := w.Flush(); err != nil {
			out.Close()
			return time.Time{}, err
		}
		if err := out.Close(); err != nil {
			return time.Time{}, err
		}
		renamed := time.Now()
		return renamed, os.Rename(tmp, pathOf(lo))
	}
	// writeAll writes every file, with context changed's server changed.
	writeAll := func(changed int, host string) (time.Time, error) {
		var renamed time.Time
		for lo := 0; lo < f.Clusters; lo += perFile {
			var err error
			if renamed, err = write(lo, min(lo+perFile, f.Clusters), changed, host); err != nil {
				return renamed, err
			}
		}
		return renamed, nil
	}
	start := time.Now()
	if _, err := writeAll(-1, ""); err != nil {
		return f, err
	}
	f.SetupSeconds = time.Since(start).Seconds()
	for lo := 0; lo < f.Clusters; lo += perFile {
		if st, err := os.Stat(pathOf(lo)); err == nil {
			f.FileBytes += st.Size()
		}
	}

	const watched = 42
	hosts := []string{"localhost", "127.0.0.1"}
	run := scaleRun{
		name:  "kubeconfig-" + target,
		args:  []string{"--kubeconfig-source=" + source},
		watch: fmt.Sprintf("bench-%05d", watched),
		change: func(_ context.Context, i int) (func(watchEvent) bool, time.Time, error) {
			host := hosts[i%len(hosts)]
			want := strings.Replace(server, "127.0.0.1", host, 1)
			lo := watched / perFile * perFile
			renamed, err := write(lo, min(lo+perFile, f.Clusters), watched, host)
			if err != nil {
				return nil, renamed, err
			}
			return func(ev watchEvent) bool { return ev.Type == "MODIFIED" && ev.Object.Spec.Server == want }, renamed, nil
		},
	}
	if err := b.measureScale(ctx, run, &f); err != nil {
		return f, err
	}
	what := fmtMB(float64(f.FileBytes)) + " file"
	if files > 1 {
		what = fmt.Sprintf("%s in %d files of %d contexts; a change renames one of them", fmtMB(float64(f.FileBytes)), files, perFile)
	}
	b.reportScale(f, fmt.Sprintf("%s, each context its own cluster and user (inline CA and client certificate) pointing at %s; written in %.1f s",
		what, where, f.SetupSeconds))
	return f, nil
}
