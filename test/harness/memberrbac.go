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

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// HubAdminBinding is the ClusterRoleBinding on every member that makes the
// hub admin ("admin") cluster-admin there. clusters-apiserver does not
// forward system:masters by default, so a hub admin reaching a member
// through the proxy is admin there only because a member says so, as an
// operator would grant it.
const HubAdminBinding = "hub-admin"

// bindHubAdmin creates HubAdminBinding on each member.
func (e *Env) bindHubAdmin(ctx context.Context) error {
	for _, m := range e.Members {
		cfg, err := restConfig(m.Kubeconfig)
		if err != nil {
			return err
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: HubAdminBinding},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "admin"}},
		}
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("binding the hub admin on %s: %w", m.Name, err)
		}
		if err := WaitGranted(ctx, kube, "", "admin", rbacv1.PolicyRule{Verbs: []string{"delete"}, Resources: []string{"nodes"}}); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}
