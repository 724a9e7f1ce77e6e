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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Node is a node of a member cluster, whose kubelet endpoint is a
// streaming server in this process (see kubelet), and the pod bound to it:
// exec, attach, port-forward and logs of that pod reach the member
// kube-apiserver, which connects to the kubelet as it would to a real one.
type Node struct {
	// Name is the Node's name.
	Name string
	// Namespace, Pod and Container name the pod bound to the node and its
	// one container.
	Namespace, Pod, Container string

	kubelet *kubelet
}

// KubeletRequests returns the path and query of every request the node's
// kubelet got, in order.
func (n *Node) KubeletRequests() []string { return n.kubelet.requests() }

// StartNode starts a kubelet for Members[i] and creates its Node and a
// Running pod bound to it, returning once both exist. The kubelet stops
// with the Env.
func (e *Env) StartNode(ctx context.Context, i int) (*Node, error) {
	c := e.members[i]
	serving, err := c.ca.servingCert(e.pkiDir, c.name+"-kubelet", "127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	k, err := startKubelet(serving, c.ca.CertPEM)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.kubelets = append(e.kubelets, k)
	e.mu.Unlock()

	cfg, err := restConfig(e.Members[i].Kubeconfig)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{Name: "node-1", Namespace: "default", Pod: "streamer", Container: "main", kubelet: k}
	if err := createNode(ctx, kube, n.Name, k.port()); err != nil {
		return nil, fmt.Errorf("creating node %s on %s: %w", n.Name, c.name, err)
	}
	if err := createPod(ctx, kube, n); err != nil {
		return nil, fmt.Errorf("creating pod %s/%s on %s: %w", n.Namespace, n.Pod, c.name, err)
	}
	return n, nil
}

// createNode creates a Ready node whose kubelet listens on 127.0.0.1:port.
func createNode(ctx context.Context, kube kubernetes.Interface, name string, port int) error {
	node, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}, // #nosec G115 -- a TCP port
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	_, err = kube.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// createPod creates n's pod, bound to n's node, and marks it Running.
func createPod(ctx context.Context, kube kubernetes.Interface, n *Node) error {
	// No controller manager runs, so the ServiceAccount admission plugin
	// finds no default ServiceAccount unless it is made here.
	_, err := kube.CoreV1().ServiceAccounts(n.Namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: n.Pod, Namespace: n.Namespace},
		Spec: corev1.PodSpec{
			NodeName:                     n.Name,
			AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{
				Name: n.Container, Image: "local", Stdin: true,
				Ports: []corev1.ContainerPort{{ContainerPort: EchoPort}},
			}},
		},
	}
	pod, err = kube.CoreV1().Pods(n.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		pod, err = kube.CoreV1().Pods(n.Namespace).Get(ctx, n.Pod, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: n.Container, Ready: true, Image: "local", ImageID: "local",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	_, err = kube.CoreV1().Pods(n.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}
