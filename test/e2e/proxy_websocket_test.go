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

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestProxyWebSocketWatch watches ConfigMaps of member-1 over WebSocket
// through the hub, as Headlamp's live views do (subprotocol
// base64.binary.k8s.io), as a user allowed only get on clusters/proxy: a
// WebSocket watch is a read. It must receive ADDED and later MODIFIED.
func TestProxyWebSocketWatch(t *testing.T) {
	const ns = "e2e-ws-watch"
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	reader := mustUser(t, "e2e-ws-reader")
	bindClusterRole(t, "e2e-ws-reader", "e2e-ws-reader", proxyRule([]string{"get"}, "member-1"))
	// The member's RBAC decides too: let the impersonated user read there.
	bindRole(t, member, "e2e-ws-reader", "e2e-ws-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}})

	u, err := url.Parse(env.HubURL + harness.ProxyPath("member-1", "/api/v1/namespaces/"+ns+"/configmaps"))
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "wss"
	u.RawQuery = "watch=1"
	dialer := websocket.Dialer{TLSClientConfig: hubTLS(t, reader), Subprotocols: []string{"base64.binary.k8s.io"}, HandshakeTimeout: 30 * time.Second}
	// A browser sends its Origin, and kube-apiserver's WebSocket watch
	// refuses a handshake without one.
	header := http.Header{"Origin": {"https://headlamp.example"}}
	// The member's RBAC takes a moment to see the new binding.
	var conn *websocket.Conn
	var resp *http.Response
	harness.Eventually(t, 30*time.Second, "a WebSocket watch through the hub", func() (bool, string) {
		c, r, err := dialer.DialContext(t.Context(), u.String(), header)
		if err != nil {
			state := err.Error()
			if r != nil {
				b, _ := io.ReadAll(r.Body)
				state += ": " + r.Status + " " + string(b)
			}
			return false, state
		}
		conn, resp = c, r
		return true, ""
	})
	defer conn.Close()
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "base64.binary.k8s.io" {
		t.Errorf("subprotocol %q, want base64.binary.k8s.io", got)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "watched"}, Data: map[string]string{"v": "1"}}
	if _, err := member.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectWatchEvent(t, conn, "ADDED", "1")
	cm.Data["v"] = "2"
	if _, err := member.CoreV1().ConfigMaps(ns).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectWatchEvent(t, conn, "MODIFIED", "2")

	// A WebSocket upgrade that is not a watch still needs create.
	u.Path = harness.ProxyPath("member-1", "/api/v1/namespaces/"+node.Namespace+"/pods/"+node.Pod+"/exec")
	u.RawQuery = "command=id&output=1&watch=1"
	_, resp, err = dialer.DialContext(t.Context(), u.String(), header)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Errorf("exec over WebSocket with only get (and a watch=1 thrown in): %v, %d; want 403", err, code)
	}
}

// expectWatchEvent reads watch events until one of type typ for a
// ConfigMap whose data v is want arrives.
func expectWatchEvent(t *testing.T, conn *websocket.Conn, typ, want string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		// kube-apiserver writes watch events as JSON text frames whatever
		// the subprotocol; accept base64 too.
		data := msg
		if decoded, err := base64.StdEncoding.DecodeString(string(msg)); err == nil {
			data = decoded
		}
		var ev struct {
			Type   string           `json:"type"`
			Object corev1.ConfigMap `json:"object"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("a watch event that is not JSON: %q", data)
		}
		if ev.Type == typ && ev.Object.Data["v"] == want {
			return
		}
	}
}

// TestProxyMemberInformer runs a client-go informer on member-1 through
// the hub's proxy URL and checks that it lists and then follows changes.
func TestProxyMemberInformer(t *testing.T) {
	const ns = "e2e-proxy-informer"
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	proxied := kubernetes.NewForConfigOrDie(harness.RESTConfig(t, env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1")))
	factory := informers.NewSharedInformerFactoryWithOptions(proxied, 0, informers.WithNamespace(ns))
	inf := factory.Core().V1().ConfigMaps().Informer()
	seen := &events{}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { seen.add("add " + obj.(*corev1.ConfigMap).Name) },
		UpdateFunc: func(_, obj any) {
			seen.add(fmt.Sprintf("update %s %s", obj.(*corev1.ConfigMap).Name, obj.(*corev1.ConfigMap).Data["v"]))
		},
		DeleteFunc: func(obj any) {
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				seen.add("delete " + cm.Name)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync through the proxy")
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "informed"}, Data: map[string]string{"v": "1"}}
	if _, err := member.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the informer sees the ConfigMap added", func() (bool, string) { return seen.has("add informed") })
	cm.Data["v"] = "2"
	if _, err := member.CoreV1().ConfigMaps(ns).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the informer sees the update", func() (bool, string) { return seen.has("update informed 2") })
	if err := member.CoreV1().ConfigMaps(ns).Delete(t.Context(), "informed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "the informer sees the delete", func() (bool, string) { return seen.has("delete informed") })
	if strings.Contains(strings.Join(seen.got, ","), "delete informed,add informed") {
		t.Errorf("events out of order: %v", seen.got)
	}
}
