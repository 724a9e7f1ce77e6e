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
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// hubState is what the scripted hub of TestOnlyAConfirmedGoneAPIRemovesClusters answers.
type hubState int

const (
	// serving: discovery lists ClusterProfiles, which list and watch.
	serving hubState = iota
	// starting: a hub that restarts, whose discovery leaves the CRD out
	// and whose /readyz fails, as kube-apiserver's do until it has loaded
	// its CRDs; lists answer 404 or 503.
	starting
	// failing: discovery and lists fail with 500s.
	failing
	// gone: a ready hub without the CRD.
	gone
)

// scriptedHub serves discovery, /readyz and ClusterProfiles as its state
// says.
type scriptedHub struct {
	mu    sync.Mutex
	state hubState
}

func (h *scriptedHub) set(s hubState) { h.mu.Lock(); h.state = s; h.mu.Unlock() }

// profile is the one ClusterProfile the hub serves.
func (*scriptedHub) profile() *cpv1alpha1.ClusterProfile {
	cp := profile()
	cp.TypeMeta = metav1.TypeMeta{Kind: "ClusterProfile", APIVersion: cpv1alpha1.GroupVersion.String()}
	cp.ResourceVersion = "1"
	return cp
}

func (h *scriptedHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	state := h.state
	h.mu.Unlock()
	gr := schema.GroupResource{Group: cpv1alpha1.GroupVersion.Group, Resource: "clusterprofiles"}
	status := func(err *apierrors.StatusError) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(err.ErrStatus.Code))
		st := err.ErrStatus
		st.Kind, st.APIVersion = "Status", "v1"
		_ = json.NewEncoder(w).Encode(st)
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/readyz":
		if state == gone || state == serving {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Error(w, "[-]poststarthook/crd-informer-synced failed", http.StatusInternalServerError)
	case state == failing:
		status(apierrors.NewInternalError(http.ErrHandlerTimeout))
	case state == starting && r.URL.Path != "/apis/"+cpv1alpha1.GroupVersion.String():
		status(apierrors.NewServiceUnavailable("starting"))
	case state != serving:
		status(apierrors.NewNotFound(gr, ""))
	case r.URL.Path == "/apis/"+cpv1alpha1.GroupVersion.String():
		_ = json.NewEncoder(w).Encode(metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: cpv1alpha1.GroupVersion.String(),
			APIResources: []metav1.APIResource{{Name: "clusterprofiles", Namespaced: true, Kind: "ClusterProfile", Verbs: metav1.Verbs{"get", "list", "watch"}}},
		})
	case r.URL.Query().Get("watch") == "true":
		// A watch that stays open, with nothing more to say, until the
		// client or the test ends it. A streaming list (sendInitialEvents)
		// gets the profile and the bookmark that ends the initial events.
		w.WriteHeader(http.StatusOK)
		if r.URL.Query().Get("sendInitialEvents") == "true" {
			cp := h.profile()
			enc := json.NewEncoder(w)
			_ = enc.Encode(map[string]any{"type": "ADDED", "object": cp})
			_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": &cpv1alpha1.ClusterProfile{
				TypeMeta:   cp.TypeMeta,
				ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1", Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}},
			}})
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	default:
		cp := h.profile()
		_ = json.NewEncoder(w).Encode(cpv1alpha1.ClusterProfileList{
			TypeMeta: metav1.TypeMeta{Kind: "ClusterProfileList", APIVersion: cpv1alpha1.GroupVersion.String()},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"},
			Items:    []cpv1alpha1.ClusterProfile{*cp},
		})
	}
}

// TestOnlyAConfirmedGoneAPIRemovesClusters runs the source against a hub
// that restarts (discovery without the CRD, /readyz failing) and one that
// fails, and checks that the profiles' clusters stay through both; only a
// ready hub that answers 404 for ClusterProfiles, at several checks in a
// row, removes them.
func TestOnlyAConfirmedGoneAPIRemovesClusters(t *testing.T) {
	t.Parallel()
	hub := &scriptedHub{}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := cpclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory.New()
	const interval = 20 * time.Millisecond
	src := New(inv, disc, client, &ProvidersFile{Config: &access.Config{}}, Options{CheckInterval: interval, LabelSelector: DefaultLabelSelector})
	go src.Run(t.Context())

	const name = "cp.fleet.prod"
	present := func() bool { _, ok := inv.Get(name); return ok }
	deadline := time.Now().Add(10 * time.Second)
	for !present() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", name)
		}
		time.Sleep(interval)
	}
	for _, state := range []hubState{starting, failing} {
		hub.set(state)
		// Many checks, each of which would have removed the clusters
		// before.
		for range 20 {
			time.Sleep(interval)
			if !present() {
				t.Fatalf("%s was removed while the hub was %v", name, map[hubState]string{starting: "starting", failing: "failing"}[state])
			}
		}
	}
	hub.set(gone)
	for present() {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("%s stayed although a ready hub says ClusterProfiles are gone", name)
		}
		time.Sleep(interval)
	}
}
