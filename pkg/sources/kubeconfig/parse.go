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

package kubeconfig

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// parsed is the outcome of reading one kubeconfig file.
type parsed struct {
	// cfg is the file as loaded, to tell which contexts a new version
	// changes.
	cfg *clientcmdapi.Config
	// items are the list items of the file as cut by split, for the next
	// version to reuse; nil if it was decoded whole.
	items       *itemLists
	priority    int
	impersonate bool
	// members by context name.
	members map[string]inventory.Member
	// bad maps a context name to why it could not be used.
	bad map[string]error
	// refs are the checksums of the files the contexts reference, as they
	// were read for this version.
	refs refSums
}

// refSums maps the path of a file that a kubeconfig references to the
// checksum of its contents; a file that cannot be read has the checksum of
// no contents, and its context fails to build on its own.
type refSums map[string][sha256.Size]byte

// sum returns the checksum of the file at path, reading it on first use.
func (r refSums) sum(path string) [sha256.Size]byte {
	if s, ok := r[path]; ok {
		return s
	}
	s := sha256.Sum256(readRef(path))
	r[path] = s
	return s
}

// maxRefSize bounds how much of a referenced file is read: certificates,
// keys and CA bundles are far smaller.
const maxRefSize = 1 << 20

// readRef reads a file a kubeconfig references, for its checksum: only a
// regular file, and at most maxRefSize bytes of it (a kubeconfig pointing
// at /dev/zero must not exhaust memory at every poll). Anything else reads
// as nothing.
func readRef(path string) []byte {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) //nolint:gosec // a path in the operator's kubeconfig, which clientcmd reads as well
	if err != nil {
		return nil
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(f, maxRefSize))
	return data
}

// refsChanged tells whether a file that the version p was parsed from
// references now has other contents: a rotated CA or client certificate,
// next to an unchanged kubeconfig.
func (p *parsed) refsChanged() bool {
	if p == nil {
		return false
	}
	now := refSums{}
	for path, was := range p.refs {
		if now.sum(path) != was {
			return true
		}
	}
	return false
}

// refPaths returns the files that context kctx reads once, when its
// transport is built: its cluster's CA and its user's client certificate
// and key, as absolute paths once clientcmd.ResolveLocalPaths has run. A
// token file is not among them: client-go reads it again every minute on
// its own, so rotating it (service account tokens rotate hourly) needs no
// new transport and ends no stream.
func refPaths(cfg *clientcmdapi.Config, kctx *clientcmdapi.Context) []string {
	var out []string
	if c := cfg.Clusters[kctx.Cluster]; c != nil && c.CertificateAuthority != "" {
		out = append(out, c.CertificateAuthority)
	}
	if a := cfg.AuthInfos[kctx.AuthInfo]; a != nil {
		for _, p := range []string{a.ClientCertificate, a.ClientKey} {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// parse turns the contents of the kubeconfig file at path into members, one
// per context. Relative paths in the file resolve against its directory,
// as clientcmd does. An error means the file as a whole is unusable.
func parse(path string, data []byte, priority int, impersonate bool) (*parsed, error) {
	return parseReusing(path, data, priority, impersonate, nil)
}

// errEmpty is the problem of a file with no contents.
var errEmpty = errors.New("the file is empty")

// parseReusing is parse that hands back prev's member, unchanged, for every
// context whose context, cluster and user entries are equal to prev's:
// rebuilding 10,000 client configurations for a one-line edit is what
// would otherwise make a large file slow to reload.
func parseReusing(path string, data []byte, priority int, impersonate bool, prev *parsed) (*parsed, error) {
	if len(data) == 0 {
		return nil, errEmpty
	}
	if !cuttable(data) {
		return parseWhole(path, data, priority, impersonate, prev)
	}
	cfg, items, changed, _ := cut(path, prev, func(line func([]byte, bool) bool) error {
		// Every line is checked: cuttable looked at the whole.
		eachLine(data, func(l []byte) bool { return line(l, true) })
		return nil
	})
	if cfg == nil {
		return parseWhole(path, data, priority, impersonate, prev)
	}
	return assemble(path, cfg, items, changed, priority, impersonate, prev), nil
}

// parseWhole is parseReusing for a file that is decoded whole, not cut.
func parseWhole(path string, data []byte, priority int, impersonate bool, prev *parsed) (*parsed, error) {
	if len(data) == 0 {
		return nil, errEmpty
	}
	cfg, err := loadWhole(path, data)
	if err != nil {
		return nil, err
	}
	return assemble(path, cfg, nil, changedNames{}, priority, impersonate, prev), nil
}

// cut cuts a file into items as lines feeds its lines to the function it
// is given (until that returns false), each told whether it was checked
// (see lineSplitter), and loads them, reusing prev's
// items, with what loader.finish returns. A nil configuration means the
// file is to be decoded whole; an error is lines' own, reading the file.
func cut(path string, prev *parsed, lines func(line func(line []byte, checked bool) bool) error) (*clientcmdapi.Config, *itemLists, changedNames, error) {
	var reuse *itemLists
	if prev != nil {
		reuse = prev.items
	}
	l := newLoader(path, reuse)
	c := newCutter(l.item)
	ok := true
	feed := func(line []byte, checked bool) bool {
		if checked {
			ok = c.checkedLine(line)
		} else {
			ok = c.line(line)
		}
		return ok
	}
	if err := lines(feed); err != nil {
		return nil, nil, changedNames{}, err
	}
	if !ok || !c.end() {
		return nil, nil, changedNames{}, nil
	}
	cfg, items, changed, err := l.finish(c.rest)
	if err != nil {
		return nil, nil, changedNames{}, nil
	}
	return cfg, items, changed, nil
}

// eachLine calls fn with each line of data, with its newline if it has
// one, until fn returns false.
func eachLine(data []byte, fn func(line []byte) bool) {
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if !fn(data[off:end]) {
			return
		}
		off = end
	}
}

// assemble returns the version of the file at path that cfg is, with its
// members: those of prev that nothing changed, and the others built anew.
// items and changed are what cut returned, or nil and none for a file
// decoded whole.
func assemble(path string, cfg *clientcmdapi.Config, items *itemLists, changed changedNames, priority int, impersonate bool, prev *parsed) *parsed {
	out := &parsed{cfg: cfg, items: items, priority: priority, impersonate: impersonate, refs: refSums{}}
	// Only between versions cut whole into items: an entry the rest of
	// the previous version defined is not among its items, and its
	// removal would go unnoticed.
	if prev != nil && prev.items != nil && items != nil && !prev.items.rest && !items.rest &&
		prev.priority == priority && prev.impersonate == impersonate && len(prev.refs) == 0 {
		out.members, out.bad = prev.rebuilt(path, cfg, changed, out.refs)
		return out
	}
	out.members, out.bad = make(map[string]inventory.Member, len(cfg.Contexts)), map[string]error{}
	for name, kctx := range cfg.Contexts {
		if prev.unchanged(name, cfg, priority, impersonate, out.refs) {
			out.members[name] = prev.members[name]
			continue
		}
		m, err := member(path, name, kctx, cfg, priority, impersonate, out.refs)
		if err != nil {
			out.bad[name] = err
		}
		out.members[name] = m
	}
	return out
}

// rebuilt returns the members of cfg, the next version of p's file, which
// was cut and loaded reusing p's items, with changed naming what was not
// reused. Only the contexts that changed, or whose cluster or user did,
// or that failed, are built again; every other member is p's. It is for a
// version whose contexts reference no files, so that nothing else can
// change a member (p.refs is empty), whose entries, and p's, are all list
// items (changed then names every entry that differs), and whose priority
// and identity mode are p's: a 10,000-context file with one context
// edited costs no more than that context and a copy of two maps.
func (p *parsed) rebuilt(path string, cfg *clientcmdapi.Config, changed changedNames, refs refSums) (map[string]inventory.Member, map[string]error) {
	members, bad := maps.Clone(p.members), maps.Clone(p.bad)
	if bad == nil {
		bad = map[string]error{}
	}
	again := map[string]bool{}
	for name := range changed[2] {
		again[name] = true
	}
	for name := range p.bad {
		again[name] = true
	}
	if len(changed[0]) > 0 || len(changed[1]) > 0 {
		for name, kctx := range cfg.Contexts {
			if changed[0][kctx.Cluster] || changed[1][kctx.AuthInfo] {
				again[name] = true
			}
		}
	}
	for name := range again {
		delete(members, name)
		delete(bad, name)
		kctx, ok := cfg.Contexts[name]
		if !ok {
			continue // removed
		}
		m, err := member(path, name, kctx, cfg, p.priority, p.impersonate, refs)
		if err != nil {
			bad[name] = err
		}
		members[name] = m
	}
	return members, bad
}

// loadWhole decodes a whole kubeconfig file and resolves its paths against
// the directory of path.
func loadWhole(path string, data []byte) (*clientcmdapi.Config, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("not a valid kubeconfig: %s", redact(err))
	}
	setOrigin(cfg, path)
	if err := clientcmd.ResolveLocalPaths(cfg); err != nil {
		return nil, fmt.Errorf("resolving relative paths: %w", err)
	}
	return cfg, nil
}

// setOrigin records path as where every entry of cfg comes from, which
// clientcmd.ResolveLocalPaths resolves relative paths against.
func setOrigin(cfg *clientcmdapi.Config, path string) {
	for _, c := range cfg.Clusters {
		c.LocationOfOrigin = path
	}
	for _, a := range cfg.AuthInfos {
		a.LocationOfOrigin = path
	}
	for _, c := range cfg.Contexts {
		c.LocationOfOrigin = path
	}
}

// unchanged reports whether context name of cfg can reuse p's valid member.
func (p *parsed) unchanged(name string, cfg *clientcmdapi.Config, priority int, impersonate bool, refs refSums) bool {
	if p == nil || p.priority != priority || p.impersonate != impersonate || p.bad[name] != nil {
		return false
	}
	if _, ok := p.members[name]; !ok {
		return false
	}
	was, now := p.cfg.Contexts[name], cfg.Contexts[name]
	if !same(was, now) || !same(p.cfg.Clusters[was.Cluster], cfg.Clusters[now.Cluster]) || !same(p.cfg.AuthInfos[was.AuthInfo], cfg.AuthInfos[now.AuthInfo]) {
		return false
	}
	for _, path := range refPaths(cfg, now) {
		if sum, ok := p.refs[path]; !ok || refs.sum(path) != sum {
			return false
		}
	}
	return true
}

// same tells whether two entries are equal: at once when they are one
// entry reused from the last version of the file, as nearly all are.
func same[T any](a, b *T) bool {
	return a == b || reflect.DeepEqual(a, b)
}

// member builds the member for context name. On error the member is still
// returned, with Access.Err set, so that a context that never worked is
// listed as not ready rather than hidden.
func member(path, name string, kctx *clientcmdapi.Context, cfg *clientcmdapi.Config, priority int, impersonate bool, refs refSums) (inventory.Member, error) {
	// The referenced files' contents are read before the client
	// configuration is built, and are part of the access hash, so that a
	// rotation rebuilds the member's transport.
	var sums [][sha256.Size]byte
	for _, p := range refPaths(cfg, kctx) {
		sums = append(sums, refs.sum(p))
	}
	m := inventory.Member{
		Name:     inventory.ObjectName(name),
		Origin:   "kubeconfig:" + path + ":" + name,
		Priority: priority,
		// Within one flag, the file whose path sorts first wins a name
		// collision: /d/a before /d/a.yaml, which the origins alone would
		// order the other way (':' sorts after '.').
		Order: path + "\x00" + name,
		Cluster: &clusters.Cluster{
			Spec: clusters.ClusterSpec{
				DisplayName: name,
				Source: clusters.ClusterSource{
					Type:       clusters.SourceTypeKubeconfig,
					Kubeconfig: &clusters.KubeconfigSource{File: path, Context: name, Cluster: kctx.Cluster},
				},
			},
		},
	}
	if c, ok := cfg.Clusters[kctx.Cluster]; ok {
		m.Cluster.Spec.Server = c.Server
		m.Cluster.Spec.TLSServerName = c.TLSServerName
		m.Cluster.Spec.InsecureSkipTLSVerify = c.InsecureSkipTLSVerify
	}

	// The client configuration is built here to tell whether it can be,
	// and then each time a transport is built, from the same entries: they
	// are kept anyway, for the next version of the file to reuse, where
	// the configuration would be about 600 bytes more for each context.
	cluster, user := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	restConfig, err := clientConfig(name, kctx, cluster, user, "")
	if err == nil && restConfig.Host == "" {
		err = fmt.Errorf("cluster %q has no server", kctx.Cluster)
	}
	if err != nil {
		err = fmt.Errorf("context %q: %w", name, err)
		m.Access.Err = &inventory.AccessError{Reason: clusters.ReasonInvalidKubeconfig, Message: err.Error()}
		return m, err
	}
	m.Access.Host = restConfig.Host
	// A token file is read here, once, as it was when the configuration
	// was kept: client-go's transport reads it again on its own, every
	// minute. Building a transport reads no file it did not read before,
	// under the transports' lock.
	token := ""
	if user != nil && user.Token == "" && user.TokenFile != "" {
		token = restConfig.BearerToken
	}
	m.Access.Build = func() (*rest.Config, error) { return clientConfig(name, kctx, cluster, user, token) }
	m.Access.Impersonate = impersonate
	m.Access.Via = fmt.Sprintf("user %q of context %q in %s", kctx.AuthInfo, name, path)
	m.Access.Hash = inventory.AccessHash(kctx, cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo], impersonate, sums)
	return m, nil
}

// clientConfig builds the client configuration of context name, whose
// entries are kctx, its cluster and its user (either may be nil, for
// clientcmd to report), with token, if not empty, as the content of the
// user's token file.
func clientConfig(name string, kctx *clientcmdapi.Context, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo, token string) (*rest.Config, error) {
	return clientcmd.NewNonInteractiveClientConfig(*ownEntries(name, kctx, cluster, user, token), name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
}

// ownEntries returns a configuration of context name alone, for clientcmd
// to build its client from: clientcmd writes into the user entry it is
// given (an exec plugin's install hint and cluster extension), and the
// entries are shared with the next version of the file, which reuses
// what did not change, with other contexts, and with every other build
// of this context's configuration, which may run at the same time. The
// user entry and what clientcmd writes into are copies; the bytes of
// certificates and keys are not copied.
func ownEntries(name string, kctx *clientcmdapi.Context, cluster *clientcmdapi.Cluster, user *clientcmdapi.AuthInfo, token string) *clientcmdapi.Config {
	own := clientcmdapi.NewConfig()
	own.Contexts[name] = kctx
	if cluster != nil {
		own.Clusters[kctx.Cluster] = cluster
	}
	if user != nil {
		u := *user
		u.Exec = user.Exec.DeepCopy()
		u.AuthProvider = user.AuthProvider.DeepCopy()
		if token != "" && u.Token == "" {
			u.Token = token // clientcmd then keeps TokenFile and reads no file
		}
		own.AuthInfos[kctx.AuthInfo] = &u
	}
	return own
}

// quoted matches what YAML and JSON decoding errors quote from their
// input, which may be a token or key.
var quoted = regexp.MustCompile("`[^`]*`|\"[^\"]*\"")

// redact removes quoted input from an error message so that no part of a
// credential can reach a log line or a condition message.
func redact(err error) string {
	return quoted.ReplaceAllString(err.Error(), "<redacted>")
}
