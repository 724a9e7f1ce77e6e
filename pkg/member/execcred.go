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

package member

// Exec credential plugins are run here, not by client-go. client-go keeps
// every exec authenticator it makes, with its cached credential and
// connection tracker, in a process-wide cache (and a metrics map) that
// never forgets one: a server whose clusters come and go would keep one
// for every cluster that ever existed. Here a cluster's credential lives
// as long as its access configuration, and is shared by the transports
// built for it (the proxy's and the health checks' temporary ones), so
// checks of a member nobody uses do not run its plugin each time.
//
// What a plugin is given and what is accepted back follow client-go's
// Authenticator (k8s.io/client-go/plugin/pkg/client/auth/exec), with
// these differences for a server:
//   - a plugin never runs interactively: the server's standard input is
//     not a user's;
//   - messages never hold what the plugin printed (a decoding error can
//     quote its output, token included), nor its command or arguments
//     (the Ready message names the kubeconfig user or access provider);
//   - a plugin runs at most once every execRetryInterval after its first
//     run, however many requests fail or however short-lived the credential
//     it returns, so a member that answers 401 to everything, or a plugin
//     that keeps failing, cannot make the server start a process per
//     request.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/pkg/apis/clientauthentication"
	"k8s.io/client-go/pkg/apis/clientauthentication/install"
	clientauthenticationv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	clientauthenticationv1beta1 "k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"
	"k8s.io/client-go/util/connrotation"
)

// execInfoEnv is the environment variable through which a plugin gets its
// ExecCredential input.
const execInfoEnv = "KUBERNETES_EXEC_INFO"

// execRetryInterval is the least time between two runs of a cluster's
// plugin after its first.
const execRetryInterval = 5 * time.Second

// maxOutput bounds what is kept of a plugin's output: an ExecCredential
// is a few kilobytes.
const maxOutput = 1 << 20

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

// Write implements io.Writer, dropping what passes maxOutput.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// MemberEnv names the environment variable that carries the member's name
// to the plugin run for it.
const MemberEnv = "CLUSTERS_APISERVER_MEMBER"

// runningPlugins are the process groups of the plugins running now.
type runningPlugins struct {
	mu      sync.Mutex
	pids    map[int]bool
	stopped bool
}

var plugins = &runningPlugins{pids: map[int]bool{}}

// start starts cmd and records its process group, unless the server is
// stopping.
func (r *runningPlugins) start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errors.New("the server is stopping")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.pids[cmd.Process.Pid] = true
	return nil
}

// end kills what is left of the process group of pid, whose plugin has
// exited and been waited for, and forgets it. Until its group is empty,
// the kernel does not hand its number to another process.
func (r *runningPlugins) end(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	delete(r.pids, pid)
}

// StopPlugins kills the process group of every credential plugin running
// now, and lets no other start, for a server that stops: a plugin dies
// with the server anyway (Pdeathsig), but what it started would not.
func StopPlugins() {
	plugins.mu.Lock()
	defer plugins.mu.Unlock()
	plugins.stopped = true
	for pid := range plugins.pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

var (
	execScheme = runtime.NewScheme()
	execCodecs = serializer.NewCodecFactory(execScheme)
	// execVersions are the ExecCredential versions a plugin may speak.
	execVersions = map[string]schema.GroupVersion{
		clientauthenticationv1.SchemeGroupVersion.String():      clientauthenticationv1.SchemeGroupVersion,
		clientauthenticationv1beta1.SchemeGroupVersion.String(): clientauthenticationv1beta1.SchemeGroupVersion,
	}
)

func init() { install.Install(execScheme) }

// PluginError is why an exec credential plugin gave no credential. Its
// message never holds the plugin's output, command or arguments.
type PluginError struct{ msg string }

// Error implements error.
func (e *PluginError) Error() string { return e.msg }

// pluginErrorf formats a PluginError.
func pluginErrorf(format string, args ...any) error {
	return &PluginError{msg: fmt.Sprintf(format, args...)}
}

// execCredential is what one run of a plugin returned.
type execCredential struct {
	token string
	cert  *tls.Certificate
}

// execCredentials runs one cluster's exec plugin and caches its credential
// until it expires or the member refuses it.
type execCredentials struct {
	hash    string // the access configuration it was made for
	cmd     string
	args    []string
	env     []string
	group   schema.GroupVersion
	cluster *clientauthentication.Cluster // given to the plugin, if asked for
	limit   time.Duration                 // of one run
	retry   time.Duration                 // least time between runs
	// handshake bounds how long a TLS handshake waits for the
	// credential: net/http hands the callback a context without one.
	handshake time.Duration
	basePath  string // of the member's URL, before the paths requested
	now       func() time.Time
	// tracker holds the connections dialed with the credential's client
	// certificate, closed when the plugin returns another one.
	tracker *connrotation.ConnectionTracker

	// lock is held while the credential is read or the plugin runs (one
	// run at a time); waiting for it ends with the waiter's context.
	lock    chan struct{}
	cur     *execCredential
	exp     time.Time // zero: does not expire
	lastRun time.Time
	lastErr error
}

// newExecCredentials prepares running the plugin of cfg.ExecProvider for
// cluster, under limit, for the access configuration of hash.
func newExecCredentials(cfg *rest.Config, cluster, hash string, limit, handshake time.Duration) (*execCredentials, error) {
	ec := cfg.ExecProvider
	group, ok := execVersions[ec.APIVersion]
	if !ok {
		return nil, pluginErrorf("exec plugin: invalid apiVersion %q", ec.APIVersion)
	}
	switch ec.PluginPolicy.PolicyType {
	case "", clientcmdapi.PluginPolicyAllowAll:
	default:
		return nil, pluginErrorf("exec plugin: credential plugin policy %q is not supported by this server", ec.PluginPolicy.PolicyType)
	}
	if ec.InteractiveMode == clientcmdapi.AlwaysExecInteractiveMode {
		return nil, pluginErrorf("exec plugin: interactiveMode Always cannot be honoured: a server has no terminal")
	}
	c := &execCredentials{
		hash:    hash,
		cmd:     ec.Command,
		args:    ec.Args,
		group:   group,
		limit:   limit,
		retry:   execRetryInterval,
		now:     time.Now,
		tracker: connrotation.NewConnectionTracker(),
		lock:    make(chan struct{}, 1),

		handshake: handshake,
	}
	if u, err := url.Parse(cfg.Host); err == nil {
		c.basePath = strings.TrimSuffix(u.Path, "/")
	}
	for _, e := range ec.Env {
		// A name holding "=" would set another variable than it says
		// (HTTPS_PROXY=... named so to pass a deny list), and one
		// holding NUL would end the string early.
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return nil, pluginErrorf("exec plugin: an environment variable name is empty or holds \"=\" or NUL")
		}
		c.env = append(c.env, e.Name+"="+e.Value)
	}
	c.env = append(c.env, MemberEnv+"="+cluster)
	if ec.ProvideClusterInfo {
		cluster, err := rest.ConfigToExecCluster(cfg)
		if err != nil {
			return nil, pluginErrorf("exec plugin: %v", err)
		}
		c.cluster = cluster
	}
	return c, nil
}

// apply makes tc take its credential from c, as client-go's
// Authenticator.UpdateTransportConfig does: a bearer token on each
// request and a client certificate at each TLS handshake, unless tc
// already has a credential of its own. When it returns true, the caller
// sets the TLS configuration's GetClientCertificate to
// c.clientCertificate: the placeholder callback set here only makes
// transport.TLSConfigFor build a configuration that asks for one.
func (c *execCredentials) apply(tc *transport.Config) (bool, error) {
	if tc.HasTokenAuth() || tc.HasBasicAuth() || tc.HasCertAuth() {
		return false, nil
	}
	if tc.HasCertCallback() {
		return false, pluginErrorf("exec plugin: a client certificate callback is already set")
	}
	tc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &execRoundTripper{creds: c, next: rt} })
	tc.TLS.GetCertHolder = &transport.GetCertHolder{GetCert: func() (*tls.Certificate, error) {
		return nil, errors.New("exec plugin: the client certificate callback was not set up")
	}}
	return true, nil
}

// clientCertificate is the client certificate the plugin returned, an
// empty one if none: tls.Config.GetClientCertificate.
func (c *execCredentials) clientCertificate(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(cri.Context(), c.handshake)
	defer cancel()
	cred, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	if cred.cert == nil {
		return &tls.Certificate{}, nil
	}
	return cred.cert, nil
}

// acquire takes c.lock, or gives up when ctx is done.
func (c *execCredentials) acquire(ctx context.Context) error {
	select {
	case c.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return pluginErrorf("exec: gave up waiting for the credential plugin: %v", ctx.Err())
	}
}

func (c *execCredentials) release() { <-c.lock }

// get returns the cached credential, running the plugin when there is none
// or it has expired, unless it ran less than retry ago: then what that run
// gave, an error or a credential already expired, is returned again.
// Waiting for another run, or for a slot to run in, ends with ctx.
func (c *execCredentials) get(ctx context.Context) (*execCredential, error) {
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	defer c.release()
	now := c.now()
	if c.cur != nil && (c.exp.IsZero() || now.Before(c.exp)) {
		return c.cur, nil
	}
	if c.lastRun.IsZero() || now.Sub(c.lastRun) >= c.retry {
		if err := c.runLocked(ctx); err != nil {
			return nil, err
		}
	}
	if c.lastErr != nil {
		return nil, c.lastErr
	}
	return c.cur, nil
}

// refused runs the plugin again after the member refused seen (401),
// unless the credential has changed since or the plugin ran less than
// retry ago.
func (c *execCredentials) refused(ctx context.Context, seen *execCredential) {
	if c.acquire(ctx) != nil {
		return
	}
	defer c.release()
	if seen != c.cur || c.now().Sub(c.lastRun) < c.retry {
		return
	}
	_ = c.runLocked(ctx)
}

// maxPluginRuns bounds the plugins running at once, of all clusters: a
// caller who reaches many clusters at once, or a health check of each,
// cannot make the server start a process for each at the same moment.
const maxPluginRuns = 32

// pluginRuns holds a token for each plugin running.
var pluginRuns = make(chan struct{}, maxPluginRuns)

// runLocked runs the plugin and keeps its credential; on failure the last
// credential stays and the error is kept. c.lock is held. It returns an
// error only when ctx ended before a run could start.
func (c *execCredentials) runLocked(ctx context.Context) error {
	select {
	case pluginRuns <- struct{}{}:
	case <-ctx.Done():
		return pluginErrorf("exec: gave up waiting to run the credential plugin: %v", ctx.Err())
	}
	defer func() { <-pluginRuns }()
	defer func() { c.lastRun = c.now() }()
	cred, exp, err := c.run()
	if err != nil {
		c.lastErr = err
		return nil
	}
	old := c.cur
	c.cur, c.exp, c.lastErr = cred, exp, nil
	// Connections made with another client certificate go, as in
	// client-go: a member checks the certificate only at the handshake.
	if old != nil && !sameCertificate(old.cert, cred.cert) {
		c.tracker.CloseAll()
	}
	return nil
}

// sameCertificate tells whether a and b are the same certificate chain.
func sameCertificate(a, b *tls.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	if len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

// run runs the plugin once and reads its credential.
func (c *execCredentials) run() (*execCredential, time.Time, error) {
	input := &clientauthentication.ExecCredential{Spec: clientauthentication.ExecCredentialSpec{Interactive: false}}
	if c.cluster != nil {
		input.Spec.Cluster = c.cluster
	}
	info, err := runtime.Encode(execCodecs.LegacyCodec(c.group), input)
	if err != nil {
		return nil, time.Time{}, pluginErrorf("exec plugin: encoding its input: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cmd, c.args...)
	cmd.Env = append(append(os.Environ(), c.env...), execInfoEnv+"="+string(info))
	// No standard input. Standard output to a buffer of bounded size, and
	// read for WaitDelay at most once the plugin has exited: a child it
	// leaves behind, even one that left its process group, cannot keep
	// the run going. Standard error to the null device: it is free text
	// that may hold a credential.
	var out limitedBuffer
	cmd.Stdout = &out
	cmd.WaitDelay = time.Second
	// A group of its own, killed whole at the time limit and after the
	// run; and killed with the server, even when the server is killed
	// outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := plugins.start(cmd); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return nil, time.Time{}, pluginErrorf("exec: the credential plugin was not found")
		}
		return nil, time.Time{}, pluginErrorf("exec: the credential plugin could not be run")
	}
	err = cmd.Wait()
	// Whatever the plugin left behind in its group goes with it.
	plugins.end(cmd.Process.Pid)
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return nil, time.Time{}, pluginErrorf("exec: the credential plugin did not finish within its time limit (%s)", c.limit)
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited successfully; something it left behind held its output.
	case errors.As(err, &exit):
		return nil, time.Time{}, pluginErrorf("exec: the credential plugin failed with exit code %d", exit.ExitCode())
	case err != nil:
		return nil, time.Time{}, pluginErrorf("exec: the credential plugin could not be run")
	}
	return c.parse(out.Bytes())
}

// parse reads a plugin's output. Its errors never quote the output.
func (c *execCredentials) parse(out []byte) (*execCredential, time.Time, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(out, &head); err != nil {
		return nil, time.Time{}, pluginErrorf("exec plugin: its output is not a JSON object")
	}
	if head.Kind != "ExecCredential" || head.APIVersion != c.group.String() {
		return nil, time.Time{}, pluginErrorf("exec plugin is configured to use API version %s, and its output is not an ExecCredential of that version", c.group)
	}
	cred := &clientauthentication.ExecCredential{}
	if _, _, err := execCodecs.UniversalDecoder(c.group).Decode(out, nil, cred); err != nil {
		return nil, time.Time{}, pluginErrorf("exec plugin: its output is not a valid ExecCredential")
	}
	st := cred.Status
	switch {
	case st == nil:
		return nil, time.Time{}, pluginErrorf("exec plugin didn't return a status field")
	case st.Token == "" && st.ClientCertificateData == "" && st.ClientKeyData == "":
		return nil, time.Time{}, pluginErrorf("exec plugin didn't return a token or cert/key pair")
	case (st.ClientCertificateData == "") != (st.ClientKeyData == ""):
		return nil, time.Time{}, pluginErrorf("exec plugin returned only certificate or key, not both")
	}
	result := &execCredential{token: st.Token}
	if st.ClientCertificateData != "" {
		cert, err := tls.X509KeyPair([]byte(st.ClientCertificateData), []byte(st.ClientKeyData))
		if err != nil {
			return nil, time.Time{}, pluginErrorf("exec plugin: failed parsing client key/certificate: %v", err)
		}
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, time.Time{}, pluginErrorf("exec plugin: failed parsing client leaf certificate: %v", err)
		}
		result.cert = &cert
	}
	var exp time.Time
	if st.ExpirationTimestamp != nil {
		exp = st.ExpirationTimestamp.Time
	}
	return result, exp, nil
}

// proxiedPath tells whether path is one of the member's own proxies to
// pods, services or nodes (".../pods/NAME/proxy/..."), whose 401 is the
// backend's verdict, not the member's on the credential: a caller must
// not be able to make the plugin run again, or its connections close, by
// proxying to something that answers 401.
func proxiedPath(path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := 2; i < len(parts); i++ {
		if parts[i] == "proxy" && (parts[i-2] == "pods" || parts[i-2] == "services" || parts[i-2] == "nodes") {
			return true
		}
	}
	return false
}

// execRoundTripper sets the plugin's bearer token on each request and asks
// for a new credential when the member refuses it.
type execRoundTripper struct {
	creds *execCredentials
	next  http.RoundTripper
}

var _ utilnet.RoundTripperWrapper = &execRoundTripper{}

// WrappedRoundTripper implements utilnet.RoundTripperWrapper.
func (rt *execRoundTripper) WrappedRoundTripper() http.RoundTripper { return rt.next }

// RoundTrip implements http.RoundTripper.
func (rt *execRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	cred, err := rt.creds.get(req.Context())
	if err != nil {
		return nil, fmt.Errorf("getting credentials: %w", err)
	}
	if cred.token != "" {
		req = utilnet.CloneRequest(req)
		req.Header.Set("Authorization", "Bearer "+cred.token)
	}
	resp, err := rt.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && !proxiedPath(strings.TrimPrefix(req.URL.Path, rt.creds.basePath)) {
		rt.creds.refused(req.Context(), cred)
	}
	return resp, err
}
