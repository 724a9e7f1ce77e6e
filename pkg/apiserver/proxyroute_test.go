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

package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// TestProxyRoute: only clusters/NAME/proxy requests of this group version
// are taken, the member path is the one go-restful's route gave, and a
// method the proxy does not forward is a 405 Status.
func TestProxyRoute(t *testing.T) {
	resolver := &genericapirequest.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	var passed []string
	next := http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) { passed = append(passed, req.URL.Path) })
	route := proxyRoute(next, nil)
	serve := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, http.NoBody)
		info, err := resolver.NewRequestInfo(req)
		if err != nil {
			t.Fatal(err)
		}
		req = req.WithContext(genericapirequest.WithRequestInfo(req.Context(), info))
		rec := httptest.NewRecorder()
		route.ServeHTTP(rec, req)
		return rec
	}
	for _, path := range []string{
		"/apis/clusters.headlamp.dev/v1alpha1/clusters",
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a",
		"/apis/clusters.headlamp.dev/v1beta1/clusters/a/proxy/api",
		"/apis/clusters.headlamp.dev/v1alpha1/namespaces/x/clusters/a/proxy/api",
		"/apis/other.example.com/v1alpha1/clusters/a/proxy/api",
		"/api/v1/nodes/a/proxy/x",
		"/healthz",
	} {
		passed = nil
		serve(http.MethodGet, path)
		if len(passed) != 1 {
			t.Errorf("%s was not passed on", path)
		}
	}
	// A verb the method does not give (a /watch/ path is authorized as
	// watch whatever the method) is not taken: go-restful answers 404.
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet} {
		passed = nil
		serve(method, "/apis/clusters.headlamp.dev/v1alpha1/watch/clusters/a/proxy/api/v1/namespaces/x/configmaps/y")
		if len(passed) != 1 {
			t.Errorf("%s on a /watch/ proxy path was not passed on", method)
		}
	}
	passed = nil
	rec := serve("TRACE", "/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy/api")
	var st metav1.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != http.StatusMethodNotAllowed || st.Reason != metav1.StatusReasonMethodNotAllowed || len(passed) > 0 {
		t.Errorf("TRACE: %d %s (%v), passed on %v; want a 405 Status", rec.Code, rec.Body, err, passed)
	}
	for path, want := range map[string]string{
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy":                    "",
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy/":                   "/",
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy/api/v1/namespaces":  "/api/v1/namespaces",
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy/api/v1/namespaces/": "/api/v1/namespaces/",
		"/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy//api/v1":            "/api/v1",
	} {
		info, err := resolver.NewRequestInfo(httptest.NewRequest(http.MethodGet, path, http.NoBody))
		if err != nil {
			t.Fatal(err)
		}
		if got := memberPathOf(info); got != want {
			t.Errorf("%s: member path %q; want %q", path, got, want)
		}
	}
}
