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

package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

func TestMemberLocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, server, path, want, wantErr string
	}{
		{name: "plain", server: "https://10.0.0.1:6443", path: "/api/v1/namespaces", want: "https://10.0.0.1:6443/api/v1/namespaces"},
		{name: "path prefix kept", server: "https://rancher/k8s/clusters/c-1", path: "/api/v1/pods", want: "https://rancher/k8s/clusters/c-1/api/v1/pods"},
		{name: "trailing slash kept", server: "https://rancher/k8s/clusters/c-1/", path: "/apis/", want: "https://rancher/k8s/clusters/c-1/apis/"},
		{name: "no path", server: "https://a:6443", path: "", want: "https://a:6443/"},
		{name: "bare host:port", server: "10.0.0.1:6443", path: "/version", want: "https://10.0.0.1:6443/version"},
		{name: "userinfo dropped", server: "https://u:p@a", path: "/version", want: "https://a/version"},
		{name: "double slashes folded", server: "https://a/prefix", path: "//api//v1", want: "https://a/prefix/api/v1"},
		{name: "dot-dot refused", server: "https://a/prefix", path: "/api/../../secret", wantErr: `may not contain ".."`},
		{name: "trailing dot-dot refused", server: "https://a/prefix", path: "/..", wantErr: `may not contain ".."`},
		{name: "dot-dot with parameters refused", server: "https://a/prefix", path: "/..;x=1/secret", wantErr: `may not contain ".."`},
		{name: "dot-dot with backslash refused", server: "https://a/prefix", path: "/..\\secret", wantErr: `may not contain ".."`},
		{name: "backslash dot-dot refused", server: "https://a/prefix", path: "/a\\..\\..", wantErr: `may not contain ".."`},
		{name: "dots in a name kept", server: "https://a/prefix", path: "/api/v1/namespaces/a..b", want: "https://a/prefix/api/v1/namespaces/a..b"},
		{name: "decoded slash is just a slash", server: "https://a/prefix", path: "/api/v1/namespaces/a/b", want: "https://a/prefix/api/v1/namespaces/a/b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memberLocation(tc.server, tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("memberLocation = %v, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("memberLocation(%q, %q) = %q, want %q", tc.server, tc.path, got, tc.want)
			}
		})
	}
}

func TestScrubAndImpersonate(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	for _, k := range []string{"Authorization", "Cookie", "Proxy-Authorization", "Impersonate-User", "Impersonate-Group",
		"Impersonate-Uid", "Impersonate-Extra-Scopes", "X-Remote-User", "X-Remote-Group", "X-Remote-Extra-Foo", "Accept", "Content-Type"} {
		h.Set(k, "client-value")
	}
	scrubHeaders(h)
	(&Identity{}).set(h, &user.DefaultInfo{
		Name:   "alice@example.com",
		UID:    "1234",
		Groups: []string{"dev", user.AllAuthenticated, "ops"},
		Extra:  map[string][]string{"scopes.example.com/a b": {"x", "y"}},
	})
	want := http.Header{
		"Accept":            {"client-value"},
		"Content-Type":      {"client-value"},
		"Impersonate-User":  {"alice@example.com"},
		"Impersonate-Uid":   {"1234"},
		"Impersonate-Group": {"dev", "ops"},
		// Header names are canonicalised; kube-apiserver unescapes %2f too.
		"Impersonate-Extra-Scopes.example.com%2fa%20b": {"x", "y"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestStatusErrorNamesTheCluster(t *testing.T) {
	t.Parallel()
	if s := statusError("prod", "", errors.New("dial tcp: refused")); s.ErrStatus.Code != http.StatusServiceUnavailable || !strings.Contains(s.ErrStatus.Message, `cluster "prod"`) {
		t.Errorf("statusError = %+v", s.ErrStatus)
	}
}

func TestIdentityMapping(t *testing.T) {
	t.Parallel()
	u := &user.DefaultInfo{Name: "alice", UID: "42", Groups: []string{"system:masters", "dev", user.AllAuthenticated, "ops"},
		Extra: map[string][]string{"example.com/team": {"a"}}}
	tests := []struct {
		name string
		id   Identity
		want http.Header
	}{
		{"as it is", Identity{}, http.Header{"Impersonate-User": {"alice"}, "Impersonate-Uid": {"42"},
			"Impersonate-Group": {"system:masters", "dev", "ops"}, "Impersonate-Extra-Example.com%2fteam": {"a"}}},
		{"prefixes, system:masters dropped", Identity{UserPrefix: "hub:", GroupPrefix: "hub:", DropGroups: []string{"system:masters"}},
			http.Header{"Impersonate-User": {"hub:alice"}, "Impersonate-Uid": {"42"},
				"Impersonate-Group": {"hub:dev", "hub:ops"}, "Impersonate-Extra-Example.com%2fteam": {"a"}}},
		{"every group dropped", Identity{DropGroups: []string{"system:masters", "dev", "ops"}},
			http.Header{"Impersonate-User": {"alice"}, "Impersonate-Uid": {"42"}, "Impersonate-Extra-Example.com%2fteam": {"a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			tc.id.set(h, u)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoImpersonatedRequestWithoutUser checks that a request that should
// carry the hub user's identity never leaves without one.
func TestNoImpersonatedRequestWithoutUser(t *testing.T) {
	t.Parallel()
	for name, ctx := range map[string]context.Context{
		"no user":         context.Background(),
		"empty user name": genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Groups: []string{"dev"}}),
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"Impersonate-User": {"mallory"}}
			if err := forwardIdentity(ctx, h, &Identity{}); !errors.Is(err, errNoIdentity) {
				t.Errorf("forwardIdentity = %v, want errNoIdentity", err)
			}
			f := &forwarder{identity: &Identity{}, closed: context.Background(), next: http.NewFileTransport(http.Dir("/nonexistent"))}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://member/api", http.NoBody)
			if _, err := f.RoundTrip(req); !errors.Is(err, errNoIdentity) {
				t.Errorf("RoundTrip = %v, want errNoIdentity", err)
			}
		})
	}
}

// TestHandlerRefusals checks the Status errors of Handler before anything
// reaches a member: 404 for an unknown cluster, 503 naming the reason for
// one that cannot be reached (an invalid kubeconfig context, say), 400 for
// a path that leaves the server URL.
func TestHandlerRefusals(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	inv.Replace("src", []inventory.Member{
		{Name: "broken", Origin: "o1", Access: inventory.Access{Err: &inventory.AccessError{Reason: "InvalidKubeconfig", Message: `context "broken": no server`}}},
		{Name: "ok", Origin: "o2", Access: inventory.Access{Config: &rest.Config{Host: "https://ok.example"}, Hash: "h"}},
	})
	p := New(inv, member.NewTransports(member.Options{Timeouts: member.DefaultTimeouts()}), nil, DefaultIdentity(), DefaultLimits())
	tests := []struct {
		cluster, path string
		code          int32
		msg           string
	}{
		{"nope", "/version", http.StatusNotFound, `"nope" not found`},
		{"broken", "/version", http.StatusServiceUnavailable, `cluster "broken" cannot be reached: InvalidKubeconfig: context "broken": no server`},
		{"ok", "/api/../../x", http.StatusBadRequest, `may not contain ".."`},
	}
	for _, tc := range tests {
		_, err := p.Handler(tc.cluster, tc.path, nil)
		var status apierrors.APIStatus
		if !errors.As(err, &status) || status.Status().Code != tc.code || !strings.Contains(status.Status().Message, tc.msg) {
			t.Errorf("Handler(%s, %s) = %v; want %d with %q", tc.cluster, tc.path, err, tc.code, tc.msg)
		}
	}
}
