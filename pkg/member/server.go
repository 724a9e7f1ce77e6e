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

import (
	"fmt"
	"net/url"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// ParseServer parses a member's server URL; like client-go, it takes a bare
// host:port as https. The URL has no userinfo: requests carry the member's
// credential in their headers, and a URL is logged (by client-go's debug
// logging, for one) as it is.
func ParseServer(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" || u.Host == "" {
		u, err = url.Parse("https://" + server)
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster's server URL is not valid: %s", inventory.Redact(err.Error()))
	}
	u.User = nil
	return u, nil
}
