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

// Package fleetget reads one resource from many member clusters at once,
// each through its proxy on the hub and with the person's own hub
// credential, so that the hub's RBAC on clusters/proxy and each member's
// RBAC for that person decide what comes back.
package fleetget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetconfig"
)

// Request is one read: a resource as kubectl names it (pods, po,
// deployments.apps, deploy.v1.apps), in a namespace or all of them.
type Request struct {
	Resource      string
	Namespace     string
	AllNamespaces bool
	LabelSelector string
	FieldSelector string
	// Table asks each member for a server-side Table (what kubectl get
	// prints); otherwise for the objects themselves.
	Table bool
}

// Result is what one cluster answered.
type Result struct {
	Cluster string
	// Namespaced tells whether the resource is namespaced there.
	Namespaced bool
	Table      *metav1.Table                  // with Request.Table
	List       *unstructured.UnstructuredList // without
	Err        error
}

// Options bound the read.
type Options struct {
	// Concurrency is how many clusters are read at once.
	Concurrency int
	// Timeout bounds each cluster's discovery and list.
	Timeout time.Duration
	// PageSize is the limit of each list request; 0 reads at once.
	PageSize int64
	// MaxBytes bounds what each cluster sends (its discovery and every
	// page, together); 0 means DefaultMaxBytes.
	MaxBytes int64
	// Warn, when set, is given the warnings each cluster sends.
	Warn func(cluster, message string)
}

// DefaultMaxBytes bounds what a cluster sends when Options.MaxBytes is 0:
// a large cluster's pods as a Table fit many times over.
const DefaultMaxBytes = 256 << 20

func (o Options) maxBytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return DefaultMaxBytes
}

// warnings hands a cluster's warnings to Options.Warn.
type warnings struct {
	cluster string
	warn    func(cluster, message string)
}

func (w warnings) HandleWarningHeaderWithContext(_ context.Context, code int, _, message string) {
	if code == 299 && message != "" {
		w.warn(w.cluster, message)
	}
}

// Get reads req from each of clusters in parallel, through the hub of
// hub: the same TLS settings and credential, with the server set to each
// cluster's proxy URL, and one shared HTTP client so that every cluster
// rides the same hub connections. Results are in the order of clusters.
func Get(ctx context.Context, hub *rest.Config, client *http.Client, clusters []string, req Request, opts Options) []Result {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	results := make([]Result, len(clusters))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, name := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Cluster: name, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if opts.Timeout > 0 {
				cctx, cancel = context.WithTimeout(ctx, opts.Timeout)
			}
			defer cancel()
			r := getOne(cctx, hub, client, name, req, opts)
			if r.Err != nil {
				// No partial answer: a cluster that failed on a later page
				// shows its error, not the rows before it.
				r.Table, r.List = nil, nil
				if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
					r.Err = fmt.Errorf("no answer within %s: %w", opts.Timeout, r.Err)
				}
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results
}

// clusterConfig is hub's configuration with its server moved to cluster's
// proxy: what a context of fleetconfig.Build reaches. It carries no
// credential of its own: the shared client does. (rest.CopyConfig would
// write into the exec configuration it shares with hub, from every
// goroutine at once.)
func clusterConfig(hub *rest.Config, cluster string) (*rest.Config, error) {
	base, err := fleetconfig.ParseHub(hub.Host)
	if err != nil {
		return nil, err
	}
	server, err := fleetconfig.ProxyURL(base, cluster)
	if err != nil {
		return nil, err
	}
	cfg := *hub
	cfg.ExecProvider, cfg.AuthProvider = nil, nil
	cfg.Host = server
	cfg.APIPath = ""
	return &cfg, nil
}

func getOne(ctx context.Context, hub *rest.Config, client *http.Client, cluster string, req Request, opts Options) Result {
	res := Result{Cluster: cluster}
	cfg, err := clusterConfig(hub, cluster)
	if err != nil {
		res.Err = err
		return res
	}
	if opts.Warn != nil {
		cfg.WarningHandlerWithContext = warnings{cluster: cluster, warn: opts.Warn}
		cfg.WarningHandler = nil
	}
	// Discovery takes no context: bind every request of this cluster to
	// ctx through the transport, which stays the shared one; bound what
	// the cluster sends, all its answers together; and follow no
	// redirect, which would carry the hub credential elsewhere.
	bound := *client
	budget := &atomic.Int64{}
	budget.Store(opts.maxBytes())
	bound.Transport = contextTransport{ctx: ctx, rt: client.Transport, budget: budget, limit: opts.maxBytes()}
	bound.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client = &bound
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, client)
	if err != nil {
		res.Err = err
		return res
	}
	mapping, err := resolve(ctx, memory.NewMemCacheClient(dc), req.Resource)
	if err != nil {
		res.Err = err
		return res
	}
	res.Namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.UnversionedRESTClientForConfigAndClient(cfg, client)
	if err != nil {
		res.Err = err
		return res
	}
	path := []string{"/api", mapping.Resource.Version}
	if mapping.Resource.Group != "" {
		path = []string{"/apis", mapping.Resource.Group, mapping.Resource.Version}
	}
	if res.Namespaced && !req.AllNamespaces {
		path = append(path, "namespaces", req.Namespace)
	}
	path = append(path, mapping.Resource.Resource)
	accept := "application/json"
	if req.Table {
		accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
	}
	cont := ""
	seen := map[string]bool{}
	for {
		r := rc.Get().AbsPath(path...).SetHeader("Accept", accept)
		if req.LabelSelector != "" {
			r.Param("labelSelector", req.LabelSelector)
		}
		if req.FieldSelector != "" {
			r.Param("fieldSelector", req.FieldSelector)
		}
		if req.Table {
			r.Param("includeObject", string(metav1.IncludeMetadata))
		}
		if opts.PageSize > 0 {
			r.Param("limit", fmt.Sprint(opts.PageSize))
		}
		if cont != "" {
			r.Param("continue", cont)
		}
		// Error, not DoRaw's, reads the member's Status into the error.
		result := r.Do(ctx)
		if err := result.Error(); err != nil {
			res.Err = err
			return res
		}
		data, err := result.Raw()
		if err != nil {
			res.Err = err
			return res
		}
		if cont, err = res.add(data, req.Table); err != nil {
			res.Err = fmt.Errorf("reading %s: %w", mapping.Resource.Resource, err)
			return res
		}
		if cont == "" {
			return res
		}
		if seen[cont] {
			res.Err = fmt.Errorf("reading %s: the cluster answered a continue token it gave before", mapping.Resource.Resource)
			return res
		}
		seen[cont] = true
	}
}

// add appends one page of an answer to res and returns its continue token.
func (res *Result) add(data []byte, table bool) (string, error) {
	if table {
		var t metav1.Table
		if err := json.Unmarshal(data, &t); err != nil {
			return "", err
		}
		if t.Kind != "Table" {
			return "", fmt.Errorf("the cluster answered with a %q, not a Table", t.Kind)
		}
		if res.Table == nil {
			res.Table = &t
		} else {
			res.Table.Rows = append(res.Table.Rows, t.Rows...)
		}
		return t.Continue, nil
	}
	var l unstructured.UnstructuredList
	if err := l.UnmarshalJSON(data); err != nil {
		return "", err
	}
	if res.List == nil {
		res.List = &l
	} else {
		res.List.Items = append(res.List.Items, l.Items...)
	}
	return l.GetContinue(), nil
}

// resolve finds the resource arg names on the cluster of dc, as kubectl
// does: short names, plural or singular, resource.group and
// resource.version.group.
func resolve(ctx context.Context, dc discovery.CachedDiscoveryInterface, arg string) (*meta.RESTMapping, error) {
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, nil)
	full, gr := schema.ParseResourceArg(strings.ToLower(arg))
	var gvk schema.GroupVersionKind
	var err error
	if full != nil {
		gvk, err = mapper.KindFor(*full)
	}
	if gvk.Empty() {
		gvk, err = mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("the server doesn't have a resource type %q", arg)
		}
		return nil, err
	}
	return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// contextTransport sends each request with ctx, whatever context it came
// with, and fails the reads of a cluster's answers once, together, they
// pass its budget of bytes.
type contextTransport struct {
	ctx    context.Context
	rt     http.RoundTripper
	budget *atomic.Int64
	limit  int64
}

func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := t.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req.WithContext(t.ctx))
	if err == nil && t.budget != nil {
		resp.Body = &limitedBody{ReadCloser: resp.Body, budget: t.budget, limit: t.limit}
	}
	return resp, err
}

// limitedBody fails a read once the budget it shares is spent, rather
// than ending the body short: a truncated page must not look whole.
type limitedBody struct {
	io.ReadCloser
	budget *atomic.Int64
	limit  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.budget.Load() < 0 {
		return 0, b.tooLarge()
	}
	n, err := b.ReadCloser.Read(p)
	if b.budget.Add(-int64(n)) < 0 {
		return 0, b.tooLarge()
	}
	return n, err
}

func (b *limitedBody) tooLarge() error {
	return fmt.Errorf("the cluster's answers are larger than %s in all", humanBytes(b.limit))
}

// humanBytes writes n bytes as MiB when it is at least one.
func humanBytes(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
