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

package inventory

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestObjectName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want string // exact result; empty means "checked by prefix only"
		pre  string
	}{
		{name: "valid name kept", raw: "kind-dev", want: "kind-dev"},
		{name: "dotted name kept", raw: "prod.eu-west-1", want: "prod.eu-west-1"},
		{name: "upper case", raw: "Prod", pre: "prod-"},
		{name: "gke style", raw: "gke_my-project_europe-west1_prod", pre: "gke-my-project-europe-west1-prod-"},
		{name: "eks arn", raw: "arn:aws:eks:us-east-1:123456789012:cluster/prod", pre: "arn-aws-eks-us-east-1-123456789012-cluster-prod-"},
		{name: "user at cluster", raw: "admin@kind-dev", pre: "admin-kind-dev-"},
		{name: "only symbols", raw: "@@@", pre: "cluster-"},
		{name: "empty", raw: "", pre: "cluster-"},
		{name: "leading dot", raw: ".hidden", pre: "hidden-"},
		{name: "path traversal", raw: "../../etc/passwd", pre: "etc-passwd-"},
		{name: "unicode", raw: "clüster☃", pre: "cl-ster-"},
		{name: "very long", raw: strings.Repeat("A", 400), pre: strings.Repeat("a", 200)},
		{name: "newline", raw: "a\nb", pre: "a-b-"},
		{name: "reserved ClusterProfile prefix", raw: "cp.fleet.prod", pre: "cp-fleet-prod-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ObjectName(tc.raw)
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Fatalf("ObjectName(%q) = %q, not a DNS-1123 subdomain: %v", tc.raw, got, errs)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("ObjectName(%q) = %q, want %q", tc.raw, got, tc.want)
			}
			if tc.pre != "" && !strings.HasPrefix(got, tc.pre) {
				t.Errorf("ObjectName(%q) = %q, want prefix %q", tc.raw, got, tc.pre)
			}
			if again := ObjectName(tc.raw); again != got {
				t.Errorf("ObjectName(%q) is not deterministic: %q then %q", tc.raw, got, again)
			}
		})
	}
}

func TestObjectNameDistinct(t *testing.T) {
	t.Parallel()
	// Names that sanitise to the same text must still map to distinct names.
	raws := []string{"prod", "Prod", "PROD", "prod_", "prod:", "pro/d", "pro@d", "pro-d"}
	seen := map[string]string{}
	for _, raw := range raws {
		got := ObjectName(raw)
		if prev, ok := seen[got]; ok {
			t.Errorf("ObjectName(%q) = ObjectName(%q) = %q", raw, prev, got)
		}
		seen[got] = raw
	}
}
