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
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/metrics"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
	clusterstorage "github.com/headlamp-k8s/clusters-apiserver/pkg/registry/cluster"
)

// proxyGroupVersion is the group version whose clusters/proxy proxyRoute
// serves.
var proxyGroupVersion = schema.GroupVersion{Group: clusters.GroupName, Version: "v1alpha1"}

// proxyRoute serves clusters/NAME/proxy/... itself, ahead of go-restful's
// route matching and the decoding of connect options, as kube-aggregator
// serves the groups it proxies; every other request goes to next. It sits
// inside the generic handler chain, so authentication, request info,
// authorization (with its cache), audit, priority and fairness, timeouts
// for what is not long-running, and panic recovery have all run, and it
// calls the same proxy handler the Connect path does, with the same path
// and the same errors. It runs no admission: the server configures none
// (ConnectResource would run Connect admission, were any added).
func proxyRoute(next http.Handler, p *proxy.Proxy) http.Handler {
	methods := sets.New(clusterstorage.ProxyMethods()...)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, ok := genericapirequest.RequestInfoFrom(req.Context())
		if !ok || !info.IsResourceRequest || info.APIGroup != proxyGroupVersion.Group || info.APIVersion != proxyGroupVersion.Version ||
			info.Resource != "clusters" || info.Subresource != "proxy" || info.Namespace != "" || info.Name == "" || len(info.Parts) < 3 {
			next.ServeHTTP(w, req)
			return
		}
		errs := &responder{w: w, req: req}
		if !methods.Has(req.Method) {
			errs.Error(apierrors.NewMethodNotSupported(clusters.Resource("clusters/proxy"), req.Method))
			return
		}
		// Only a request authorized with its method's verb: a path such as
		// .../watch/clusters/NAME/proxy/... is authorized as watch whatever
		// its method, and go-restful has no route for it (404).
		if info.Verb != methodVerbs[req.Method] {
			next.ServeHTTP(w, req)
			return
		}
		memberPath := memberPathOf(info)
		// The request metrics go-restful's route records.
		metrics.InstrumentHandlerFunc(info.Verb, info.APIGroup, info.APIVersion, info.Resource, info.Subresource, "resource", metrics.APIServerComponent, false, "",
			func(w http.ResponseWriter, req *http.Request) {
				errs := &responder{w: w, req: req}
				h, err := p.Handler(info.Name, memberPath, errs)
				if err != nil {
					errs.Error(err)
					return
				}
				h.ServeHTTP(w, req)
			})(w, req)
	})
}

// methodVerbs is the verb the request info gives each method the proxy
// forwards (OPTIONS as get: see requestInfoResolver).
var methodVerbs = map[string]string{
	http.MethodGet: "get", http.MethodHead: "get", http.MethodOptions: "get",
	http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete",
}

// responder writes the proxy's errors as the generic API server writes a
// Status: in the encoding the client accepts.
type responder struct {
	w   http.ResponseWriter
	req *http.Request
}

// Object implements rest.Responder.
func (r *responder) Object(statusCode int, obj runtime.Object) {
	responsewriters.WriteObjectNegotiated(Serializer, negotiation.DefaultEndpointRestrictions, proxyGroupVersion, r.w, r.req, statusCode, obj, false)
}

// Error implements rest.Responder.
func (r *responder) Error(err error) {
	responsewriters.ErrorNegotiated(err, Serializer, proxyGroupVersion, r.w, r.req)
}

// memberPathOf is the path on the member of a clusters/NAME/proxy request,
// as go-restful's connect route gives it: what follows proxy/, with a
// leading slash, and the request's trailing slash.
func memberPathOf(info *genericapirequest.RequestInfo) string {
	p := strings.Join(info.Parts[3:], "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.HasSuffix(info.Path, "/") && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}
