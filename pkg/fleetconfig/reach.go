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

package fleetconfig

import (
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// Group is the API group of Clusters.
const Group = "clusters.headlamp.dev"

// Reach tells, from the rules a SelfSubjectRulesReview gave, whether the
// person may use the proxy of a Cluster: get (plain requests) or create
// (exec, attach, port-forward) on clusters/proxy, for every Cluster or
// for that one by name.
type Reach struct {
	rules []authorizationv1.ResourceRule
}

// NewReach reads the rules of a SelfSubjectRulesReview.
func NewReach(rules []authorizationv1.ResourceRule) *Reach { return &Reach{rules: rules} }

// Verbs returns which of get and create the rules allow on name's proxy.
func (r *Reach) Verbs(name string) []string {
	var out []string
	for _, verb := range []string{"get", "create"} {
		for _, rule := range r.rules {
			if matches(rule.APIGroups, Group) && matches(rule.Resources, "clusters/proxy") && matches(rule.Verbs, verb) &&
				(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, name)) {
				out = append(out, verb)
				break
			}
		}
	}
	return out
}

// matches tells whether a rule's list names want, or everything, as RBAC
// reads it: "*", and "*/proxy" for any resource's proxy.
func matches(list []string, want string) bool {
	return slices.Contains(list, want) || slices.Contains(list, "*") ||
		want == "clusters/proxy" && slices.Contains(list, "*/proxy")
}
