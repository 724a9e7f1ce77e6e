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

	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericapiserver "k8s.io/apiserver/pkg/server"
)

// requestInfoResolver is the generic API server's request info, except
// that an OPTIONS request to clusters/proxy is authorized as get: the
// generic resolver gives OPTIONS an empty verb, which only a "*" rule
// grants. OPTIONS reads, as GET and HEAD do.
type requestInfoResolver struct {
	genericapirequest.RequestInfoResolver
}

// NewRequestInfoResolver returns the request info resolver of cfg, with
// OPTIONS on clusters/proxy authorized as get.
func NewRequestInfoResolver(cfg *genericapiserver.Config) genericapirequest.RequestInfoResolver {
	return requestInfoResolver{genericapiserver.NewRequestInfoResolver(cfg)}
}

// NewRequestInfo implements genericapirequest.RequestInfoResolver.
func (r requestInfoResolver) NewRequestInfo(req *http.Request) (*genericapirequest.RequestInfo, error) {
	info, err := r.RequestInfoResolver.NewRequestInfo(req)
	if err == nil && req.Method == http.MethodOptions && info.IsResourceRequest && info.Verb == "" &&
		info.Resource == "clusters" && info.Subresource == "proxy" {
		info.Verb = "get"
	}
	return info, err
}
