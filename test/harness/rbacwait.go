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

package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// WaitGranted waits until the RBAC of kube's cluster, which takes roles
// and bindings from informers, grants user the first verb of every rule
// (in namespace ns, when set): a binding just created is not in force at
// once, and a test or the server must not race it.
func WaitGranted(ctx context.Context, kube kubernetes.Interface, ns, user string, rules ...rbacv1.PolicyRule) error {
	for _, rule := range rules {
		spec := ruleReview(ns, user, rule)
		var reason string
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
			if err != nil {
				reason = err.Error()
				return false, nil
			}
			reason = got.Status.Reason
			return got.Status.Allowed, nil
		})
		if err != nil {
			return fmt.Errorf("RBAC does not yet grant %s %s (%s): %w", user, rule.String(), reason, err)
		}
	}
	return nil
}

// ruleReview is the access review of the first verb, group, resource and
// name (or non-resource URL) of rule for user, in namespace ns.
func ruleReview(ns, user string, rule rbacv1.PolicyRule) authorizationv1.SubjectAccessReviewSpec {
	spec := authorizationv1.SubjectAccessReviewSpec{User: user}
	verb := "get"
	if len(rule.Verbs) > 0 && rule.Verbs[0] != rbacv1.VerbAll {
		verb = rule.Verbs[0]
	}
	if len(rule.NonResourceURLs) > 0 {
		spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: strings.TrimSuffix(rule.NonResourceURLs[0], "*"), Verb: verb}
		return spec
	}
	attrs := &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb}
	if len(rule.APIGroups) > 0 && rule.APIGroups[0] != rbacv1.APIGroupAll {
		attrs.Group = rule.APIGroups[0]
	}
	if len(rule.Resources) > 0 {
		attrs.Resource, attrs.Subresource, _ = strings.Cut(rule.Resources[0], "/")
	}
	if len(rule.ResourceNames) > 0 {
		attrs.Name = rule.ResourceNames[0]
	}
	spec.ResourceAttributes = attrs
	return spec
}
