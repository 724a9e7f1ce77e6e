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

package clusterprofile

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// listener is an attacker's HTTPS server that records what reaches it.
type listener struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // Authorization headers, and requests without one
}

func startListener(t *testing.T) *listener {
	l := &listener{}
	l.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path+" Authorization="+r.Header.Get("Authorization"))
		l.mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// testUntrustedProfiles: a profile in another watched namespace that
// points secretreader at member-2's credential and at an attacker's
// listener, skipping TLS verification, gets nothing: it is not Ready,
// with a reason that names the rule, and the listener never hears from
// the server. A profile that names a CA file on the server is refused
// without the file being read.
func testUntrustedProfiles(t *testing.T) {
	l := startListener(t)
	ext, _ := json.Marshal(map[string]string{"clusterName": "member-2"})
	steal := env.MemberProfile(0, teamNamespace, "e2e-steal")
	steal.Status.AccessProviders[0].Cluster.Server = l.srv.URL
	steal.Status.AccessProviders[0].Cluster.CertificateAuthorityData = nil
	steal.Status.AccessProviders[0].Cluster.InsecureSkipTLSVerify = true
	steal.Status.AccessProviders[0].Cluster.Extensions[0].Extension = runtime.RawExtension{Raw: ext}
	applyProfile(t, steal, true)
	c := waitCluster(t, "cp."+teamNamespace+".e2e-steal", readyIs(metav1.ConditionFalse, "InvalidAccessProvider"))
	if msg := readyMessage(c.Status.Conditions); !strings.Contains(msg, `clusterName "member-2" is not this profile's name "e2e-steal"`) {
		t.Errorf("Ready message %q; want it to name the rule", msg)
	}

	shadow := env.MemberProfile(0, teamNamespace, "e2e-ca-file")
	shadow.Status.AccessProviders[0].Cluster.CertificateAuthorityData = nil
	shadow.Status.AccessProviders[0].Cluster.CertificateAuthority = "/etc/shadow"
	applyProfile(t, shadow, true)
	c = waitCluster(t, "cp."+teamNamespace+".e2e-ca-file", readyIs(metav1.ConditionFalse, "InvalidAccessProvider"))
	if msg := readyMessage(c.Status.Conditions); !strings.Contains(msg, "certificate-authority names a file on the server") || strings.Contains(msg, "PEM") {
		t.Errorf("Ready message %q; want the rule, and nothing read from the file", msg)
	}

	// Health checks run every second: give them several chances.
	time.Sleep(5 * time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) != 0 {
		t.Errorf("the attacker's listener got %q", l.seen)
	}
}

// readyMessage is the message of the Ready condition.
func readyMessage(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}
