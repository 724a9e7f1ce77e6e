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

package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/informers/externalversions"
	clusterstorage "github.com/headlamp-k8s/clusters-apiserver/pkg/registry/cluster"
)

func testKubeconfig(names ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: https://%s.example:6443\n    tls-server-name: api.%s\n", n, strings.ToLower(n), strings.ToLower(n))
	}
	b.WriteString("users:\n")
	b.WriteString("- name: token\n  user:\n    token: tok-3f9a1c7e5b2d4a68\n")
	b.WriteString("- name: key\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: cGVybWFuZW50LWNsaWVudC1rZXk=\n")
	b.WriteString("- name: exec\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/credential-helper\n      interactiveMode: Never\n      env:\n      - name: SECRET\n        value: exec-env-secret-77d1\n")
	b.WriteString("- name: basic\n  user:\n    username: admin\n    password: basic-pass-9c2e\n")
	b.WriteString("contexts:\n")
	users := []string{"token", "key", "exec", "basic"}
	for i, n := range names {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", n, n, users[i%len(users)])
	}
	return b.String()
}

// startServer runs clusters-apiserver in-process on a loopback port with the
// given kubeconfig sources and returns a client config for it.
func startServer(t *testing.T, sources ...string) *rest.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.SecureServing.Listener = ln
	o.SecureServing.BindPort = ln.Addr().(*net.TCPAddr).Port
	o.SecureServing.ServerCert.CertDirectory = t.TempDir()
	// No hub here: only the loopback identity (system:masters) is accepted.
	o.Authentication.RemoteKubeConfigFileOptional = true
	o.Authorization.RemoteKubeConfigFileOptional = true
	o.KubeconfigSources = sources
	o.KubeconfigPollInterval = 100 * time.Millisecond
	if errs := o.Validate(); len(errs) > 0 {
		t.Fatalf("options: %v", errs)
	}
	cfg, err := o.Config()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	server, err := cfg.Complete().New()
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := server.Run(ctx); err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	client := rest.CopyConfig(cfg.GenericConfig.LoopbackClientConfig)
	rc, err := rest.UnversionedRESTClientFor(withCodec(client))
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return rc.Get().AbsPath("/readyz").Do(ctx).Error() == nil, nil
	})
	if err != nil {
		t.Fatalf("server never became ready: %v", err)
	}
	return client
}

// withCodec returns c with a serializer for raw requests.
func withCodec(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
}

func TestServerListGetWatchAndInformer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	writeFile(t, path, testKubeconfig("beta", "Alpha_Prod"))
	cfg := startServer(t, path)
	cs := versioned.NewForConfigOrDie(cfg)
	ctx := t.Context()
	clusters := cs.ClustersV1alpha1().Clusters()

	list, err := clusters.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var got []string
	for _, c := range list.Items {
		got = append(got, c.Name+"="+c.Spec.DisplayName)
	}
	alpha := list.Items[0].Name
	if diff := cmp.Diff([]string{alpha + "=Alpha_Prod", "beta=beta"}, got); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(alpha, "alpha-prod-") {
		t.Errorf("Alpha_Prod mapped to %q, want alpha-prod-<hash>", alpha)
	}
	if list.ResourceVersion == "" {
		t.Errorf("list has no resourceVersion")
	}

	beta, err := clusters.Get(ctx, "beta", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if beta.Spec.Server != "https://beta.example:6443" || beta.Spec.TLSServerName != "api.beta" || beta.Labels[clustersv1alpha1.LabelSource] != "kubeconfig" {
		t.Errorf("beta = %+v", beta)
	}
	if _, err := clusters.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing cluster: %v, want NotFound", err)
	}

	selected, err := clusters.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=beta", LabelSelector: clustersv1alpha1.LabelSource + "=kubeconfig"})
	if err != nil || len(selected.Items) != 1 || selected.Items[0].Name != "beta" {
		t.Errorf("selector list = %v, %v; want just beta", selected, err)
	}
	if _, err := clusters.List(ctx, metav1.ListOptions{FieldSelector: "spec.server=x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want BadRequest", err)
	}

	// Informer from pkg/generated, then ADDED / MODIFIED / DELETED from file edits.
	factory := externalversions.NewSharedInformerFactory(cs, 0)
	informer := factory.Clusters().V1alpha1().Clusters().Informer()
	rec := &recorder{}
	if _, err := informer.AddEventHandler(rec); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, informer.HasSynced) {
		t.Fatal("informer did not sync")
	}

	w, err := clusters.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()

	writeFile(t, path, strings.ReplaceAll(testKubeconfig("beta", "gamma"), "https://beta.example", "https://beta2.example"))
	want := []string{"ADDED gamma", "MODIFIED beta", "DELETED " + alpha}
	// Health checks of these unreachable members may add MODIFIED events
	// of their own (Ready changing); nothing else may come.
	var seen, extra []string
	timeout := time.After(20 * time.Second)
	for !containsAll(seen, want) {
		select {
		case ev := <-w.ResultChan():
			c := ev.Object.(*clustersv1alpha1.Cluster)
			e := string(ev.Type) + " " + c.Name
			if slices.Contains(want, e) && !slices.Contains(seen, e) {
				seen = append(seen, e)
			} else {
				extra = append(extra, e)
			}
		case <-timeout:
			t.Fatalf("watch saw %v (and %v), want %v", seen, extra, want)
		}
	}
	for _, e := range extra {
		if !strings.HasPrefix(e, "MODIFIED ") {
			t.Errorf("unexpected watch event %s", e)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		return rec.has("add gamma") && rec.has("update beta") && rec.has("delete "+alpha), nil
	})
	if err != nil {
		t.Errorf("informer saw %v", rec.list())
	}
	// The generated lister reads the informer's cache.
	lister := factory.Clusters().V1alpha1().Clusters().Lister()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		c, err := lister.Get("beta")
		return err == nil && c.Spec.Server == "https://beta2.example:6443", nil
	})
	if err != nil {
		t.Errorf("the lister does not have beta at its new server: %v", err)
	}
	if all, err := lister.List(labels.Everything()); err != nil || len(all) != 2 {
		t.Errorf("lister.List = %d clusters, %v; want beta and gamma", len(all), err)
	}

	// A resourceVersion from another server instance is 410 Gone.
	if _, err := clusters.Watch(ctx, metav1.ListOptions{ResourceVersion: "12345"}); !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from a foreign resourceVersion: %v, want 410", err)
	}
}

func TestServerRefusesWritesAndServesTablesAndOpenAPI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	writeFile(t, path, testKubeconfig("one", "two", "three", "four"))
	cfg := startServer(t, path)
	rc, err := rest.UnversionedRESTClientFor(withCodec(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	base := "/apis/clusters.headlamp.dev/v1alpha1/clusters"

	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		path := base + "/one"
		if verb == "POST" {
			path = base
		}
		var code int
		rc.Verb(verb).AbsPath(path).Body([]byte(`{}`)).SetHeader("Content-Type", "application/merge-patch+json").Do(ctx).StatusCode(&code)
		if code != 405 {
			t.Errorf("%s %s = %d, want 405", verb, path, code)
		}
	}

	// kubectl get asks for a Table.
	raw, err := rc.Get().AbsPath(base).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatalf("table: %v", err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, fmt.Sprintf("%s/%d", c.Name, c.Priority))
	}
	wantCols := []string{"Name/0", "Source/0", "Server/0", "Version/0", "Ready/0", "Age/0", "Origin/1", "Display Name/1"}
	if diff := cmp.Diff(wantCols, cols); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if len(table.Rows) != 4 || table.Rows[0].Cells[0] != "four" || table.Rows[0].Cells[1] != "kubeconfig" || (table.Rows[0].Cells[4] != "Unknown" && table.Rows[0].Cells[4] != "False") ||
		table.Rows[0].Cells[6] != path+":four" {
		t.Errorf("first row = %v", table.Rows[0].Cells)
	}

	// There are no protobuf definitions: protobuf alone is 406, protobuf
	// with a JSON fallback (what client-go sends) gets JSON.
	var code int
	rc.Get().AbsPath(base).SetHeader("Accept", "application/vnd.kubernetes.protobuf").Do(ctx).StatusCode(&code)
	if code != 406 {
		t.Errorf("protobuf-only request = %d, want 406", code)
	}
	res := rc.Get().AbsPath(base).SetHeader("Accept", "application/vnd.kubernetes.protobuf, application/json").Do(ctx)
	var contentType string
	res.ContentType(&contentType)
	if res.Error() != nil || contentType != "application/json" {
		t.Errorf("protobuf-or-JSON request = %q, %v; want JSON", contentType, res.Error())
	}

	for _, p := range []string{"/openapi/v2", "/openapi/v3/apis/clusters.headlamp.dev/v1alpha1"} {
		doc, err := rc.Get().AbsPath(p).SetHeader("Accept", "application/json").DoRaw(ctx)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		for _, want := range []string{"Server is the URL of the member cluster", "dev.headlamp.clusters.v1alpha1.Cluster"} {
			if !strings.Contains(string(doc), want) {
				t.Errorf("%s lacks %q", p, want)
			}
		}
	}
}

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) { r.mu.Lock(); defer r.mu.Unlock(); r.events = append(r.events, s) }
func (r *recorder) OnAdd(obj interface{}, _ bool) {
	r.add("add " + obj.(*clustersv1alpha1.Cluster).Name)
}
func (r *recorder) OnUpdate(_, obj interface{}) {
	r.add("update " + obj.(*clustersv1alpha1.Cluster).Name)
}
func (r *recorder) OnDelete(obj interface{}) {
	if c, ok := obj.(*clustersv1alpha1.Cluster); ok {
		r.add("delete " + c.Name)
	}
}
func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == s {
			return true
		}
	}
	return false
}
func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// containsAll tells whether got holds every element of want.
func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// TestListEncoderMatches: the plain JSON list and kubectl's Table, which
// the list cache writes from each Cluster's own encoding, are byte for byte
// what the generic handler writes for the same list (asked with an empty
// label selector, which takes the generic path), for every Accept header
// that takes them, with names JSON escapes, a context that fails and one a
// later edit changes.
func TestListEncoderMatches(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.yaml")
	names := []string{"beta", "Alpha_Prod", "a<b>&c", "ünïcode"}
	const broken = "- name: broken\n  context:\n    cluster: missing\n    user: token\n"
	writeFile(t, path, testKubeconfig(names...)+broken)
	cfg := startServer(t, path)
	tr, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	get := func(query, accept string) (string, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cfg.Host+"/apis/clusters.headlamp.dev/v1alpha1/clusters"+query, http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v: %s", query, resp.StatusCode, err, body)
		}
		// The transport asks for gzip and decompresses: whether it did
		// is part of what is compared.
		return fmt.Sprintf("%s (gzip: %v)", resp.Header.Get("Content-Type"), resp.Uncompressed), body
	}
	const kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	forms := []struct {
		name    string
		generic string   // the Accept header the generic list is asked with
		accepts []string // those that take the list encoder
	}{
		{"list", "application/json", []string{"", "application/json", "*/*", "application/json, */*"}},
		{"Table", kubectl, []string{kubectl, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "application/json;as=Table;v=v1;g=meta.k8s.io"}},
	}
	// check compares every plain list with the generic handler's at the
	// same state: health checks still change Clusters, so a round in which
	// the generic list changed is run again. A Table's Age cells are
	// computed when it is written, and each Table is kept for up to a
	// second, so two Tables of one state may differ there by a second or
	// more (a round can take that long under load): the rest of a Table
	// is compared byte for byte, and each Age against the creation time
	// and the round's clock (tableAges).
	check := func(stage string) {
		t.Helper()
		for _, form := range forms {
			for attempt := 1; ; attempt++ {
				start := time.Now()
				wantType, want := get("?labelSelector=", form.generic)
				if !strings.Contains(string(want), `\u003cb\u003e\u0026c`) || !strings.Contains(string(want), "broken") {
					t.Fatalf("%s: the generic %s lacks what the test needs:\n%s", stage, form.name, want)
				}
				var mismatches []string
				for _, query := range []string{"", "?resourceVersion=0&limit=500", "?limit=1"} {
					for _, accept := range form.accepts {
						gotType, got := get(query, accept)
						same := bytes.Equal(got, want)
						if form.name == "Table" && !same {
							wantMasked, _ := tableAges(t, want, start, time.Now())
							gotMasked, badAges := tableAges(t, got, start, time.Now())
							same = bytes.Equal(gotMasked, wantMasked)
							if same && len(badAges) > 0 {
								t.Errorf("%s: Table %q, Accept %q: %s", stage, query, accept, strings.Join(badAges, "; "))
							}
						}
						if gotType != wantType || !same {
							mismatches = append(mismatches, fmt.Sprintf("%s: %s %q, Accept %q:\n%s %s\nwant what the generic handler writes:\n%s %s", stage, form.name, query, accept, gotType, got, wantType, want))
						}
					}
				}
				if _, after := get("?labelSelector=", form.generic); len(mismatches) > 0 && !bytes.Equal(after, want) && attempt < 50 {
					time.Sleep(100 * time.Millisecond) // the inventory changed meanwhile
					continue
				}
				for _, m := range mismatches {
					t.Error(m)
				}
				break
			}
		}
	}
	check("first")
	// A limit the generic handler cannot decode is refused, whatever the
	// Accept header.
	for _, accept := range []string{"application/json", "application/yaml"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cfg.Host+"/apis/clusters.headlamp.dev/v1alpha1/clusters?limit=abc", http.NoBody)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("limit=abc, Accept %s: %d, want 400", accept, resp.StatusCode)
		}
	}
	writeFile(t, path, testKubeconfig(append(names, "gamma")...)+broken)
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, body := get("", "")
		return strings.Contains(string(body), "gamma"), nil
	})
	if err != nil {
		t.Fatal("the edit never showed up")
	}
	check("after an edit")

	// Lists above the compression threshold and the encoder's write
	// buffer, of 400 more contexts whose server refuses at once.
	many := strings.Replace(testKubeconfig(append(names, "gamma")...)+broken, "users:\n",
		"- name: refused\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n", 1)
	for i := range 400 {
		many += fmt.Sprintf("- name: many-%03d\n  context:\n    cluster: refused\n    user: token\n", i)
	}
	writeFile(t, path, many)
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, body := get("", "")
		return strings.Contains(string(body), "many-399"), nil
	})
	if err != nil {
		t.Fatal("the 400 contexts never showed up")
	}
	for _, form := range forms {
		if typ, body := get("", form.accepts[0]); !strings.Contains(typ, "gzip: true") || len(body) <= 128<<10 {
			t.Fatalf("the %s of 400 contexts: %s, %d bytes; the check needs it compressed and larger", form.name, typ, len(body))
		}
	}
	check("with 400 more contexts")
}

// tableAges returns a Table's JSON with each row's Age cell written as
// "AGE", and a line for each Age that is not what the Cluster's creation
// time gives at any time from a second before start (a Table is kept for
// a second) to end.
func tableAges(t *testing.T, body []byte, start, end time.Time) ([]byte, []string) {
	t.Helper()
	var table struct {
		Rows []struct {
			Cells  []json.RawMessage `json:"cells"`
			Object struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"object"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("not a Table: %v: %s", err, body)
	}
	var masked []byte
	var bad []string
	unread := body
	for i := range table.Rows {
		row := &table.Rows[i]
		if len(row.Cells) <= clusterstorage.AgeCell {
			t.Fatalf("row %d has %d cells: %s", i, len(row.Cells), body)
		}
		// The JSON is compact: a row's cells are written as they were read.
		head := []byte(`{"cells":[`)
		for _, cell := range row.Cells[:clusterstorage.AgeCell] {
			head = append(append(head, cell...), ',')
		}
		age := row.Cells[clusterstorage.AgeCell]
		at := bytes.Index(unread, append(head, age...))
		if at < 0 {
			t.Fatalf("row %d's cells are not written compactly in: %s", i, body)
		}
		masked = append(masked, unread[:at+len(head)]...)
		masked = append(masked, `"AGE"`...)
		unread = unread[at+len(head)+len(age):]

		var got string
		if err := json.Unmarshal(age, &got); err != nil {
			t.Fatalf("row %d: Age %s: %v", i, age, err)
		}
		created := row.Object.Metadata.CreationTimestamp
		ok := false
		for when := start.Add(-time.Second); !ok; when = when.Add(100 * time.Millisecond) {
			if when.After(end) {
				when = end
			}
			ok = got == clusterstorage.Age(created, when)
			if when.Equal(end) {
				break
			}
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: Age %q, want %q to %q", row.Object.Metadata.Name, got, clusterstorage.Age(created, start.Add(-time.Second)), clusterstorage.Age(created, end)))
		}
	}
	return append(masked, unread...), bad
}

// TestTableAges: the Table comparison of TestListEncoderMatches tells
// Tables apart by anything but their Age cells, and checks those against
// the clock.
func TestTableAges(t *testing.T) {
	created := time.Date(2026, 12, 3, 7, 59, 8, 0, time.UTC)
	start := created.Add(10*time.Second + 500*time.Millisecond)
	table := func(server, age string) []byte {
		return fmt.Appendf(nil, `{"kind":"Table","rows":[{"cells":["a","kubeconfig",%q,"\u003cnone\u003e","False",%q,"f:a","a"],"object":{"metadata":{"name":"a","creationTimestamp":%q}}}]}`,
			server, age, created.Format(time.RFC3339))
	}
	want, bad := tableAges(t, table("https://a", "10s"), start, start)
	if len(bad) > 0 || !bytes.Contains(want, []byte(`"False","AGE","f:a"`)) {
		t.Fatalf("masked %s, bad Ages %q", want, bad)
	}
	for _, age := range []string{"9s", "10s", "11s", "12s"} {
		got, bad := tableAges(t, table("https://a", age), start, start.Add(1400*time.Millisecond))
		if !bytes.Equal(got, want) {
			t.Errorf("Age %s: masked %s, want %s", age, got, want)
		}
		if inWindow := age != "12s"; inWindow != (len(bad) == 0) {
			t.Errorf("Age %s, from 9.5s to 11.9s after creation: bad Ages %q", age, bad)
		}
	}
	if got, _ := tableAges(t, table("https://b", "10s"), start, start); bytes.Equal(got, want) {
		t.Errorf("a Table with another server masked to %s", got)
	}
}
