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

// Package clusterprofile is the source of member clusters that reads
// Cluster Inventory API ClusterProfiles (multicluster.x-k8s.io/v1alpha1) on
// the hub: every profile is one Cluster, reached through the access provider
// that the server's provider file configures.
package clusterprofile

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	cpinformers "sigs.k8s.io/cluster-inventory-api/client/informers/externalversions"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources"
)

// Options configure the ClusterProfile source.
type Options struct {
	// Namespaces to read profiles from; all namespaces when empty.
	Namespaces []string
	// LabelSelector selects the profiles to serve.
	LabelSelector string
	// ProviderFile is the path the providers were read from, for messages.
	ProviderFile string
	// Impersonate makes the proxy forward to these clusters as the hub user.
	Impersonate bool
	// CheckInterval is how often the source checks whether the
	// ClusterProfile API is served (it may be installed or removed).
	CheckInterval time.Duration
}

// IgnoreLabel set to "true" on a ClusterProfile hides it, with the default
// label selector.
const IgnoreLabel = "clusters.headlamp.dev/ignore"

// Defaults of the server's flags for this source.
const (
	DefaultLabelSelector = IgnoreLabel + "!=true"
	DefaultCheckInterval = 10 * time.Second
)

// Source serves the hub's ClusterProfiles.
type Source struct {
	opts      Options
	discovery discovery.DiscoveryInterface
	client    cpclient.Interface
	inv       *inventory.Inventory
	builder   *memberBuilder
	synced    atomic.Bool
	// authoritative: the profiles are listed, or the API is confirmed
	// gone, so a cluster this source does not report does not exist.
	authoritative atomic.Bool

	mu       sync.Mutex
	stop     context.CancelFunc // of the running informers; nil while waiting
	gen      int                // counts informer starts; events of older ones are ignored
	owners   map[string]bool    // inventory owners published
	logged   string             // the last state logged, to log each once
	gone     int                // consecutive checks that found the API positively gone; reconcile's alone
	problems map[string]string  // the access problem last logged per profile
}

var (
	_ sources.Source    = &Source{}
	_ sources.Authority = &Source{}
)

// New returns a ClusterProfile source reading the hub through client.
func New(inv *inventory.Inventory, disc discovery.DiscoveryInterface, client cpclient.Interface, providers *ProvidersFile, opts Options) *Source {
	return &Source{
		opts:      opts,
		discovery: disc,
		client:    client,
		inv:       inv,
		builder: &memberBuilder{providers: providers, providerFile: opts.ProviderFile,
			impersonate: opts.Impersonate},
		owners:   map[string]bool{},
		problems: map[string]string{},
	}
}

// Name implements sources.Source.
func (s *Source) Name() string { return "clusterprofile-source" }

// HasSynced implements sources.Source: true once the source knows whether
// the API is served and, if it is and may be read, has listed the profiles.
func (s *Source) HasSynced() bool { return s.synced.Load() }

// SourceType implements sources.Authority.
func (s *Source) SourceType() string { return string(clusters.SourceTypeClusterProfile) }

// Authoritative implements sources.Authority: true once the profiles have
// been listed, or the hub has confirmed that it does not serve them; not
// while the hub cannot be read, though the source is synced then.
func (s *Source) Authoritative() bool { return s.authoritative.Load() }

// Run implements sources.Source: it starts reading profiles when the
// ClusterProfile API is served, and stops and removes their clusters when it
// goes away.
func (s *Source) Run(ctx context.Context) {
	wait.UntilWithContext(ctx, s.reconcile, s.opts.CheckInterval)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
}

func (s *Source) reconcile(ctx context.Context) {
	served, err := s.served()
	if err != nil || served {
		s.gone = 0
	}
	if err != nil {
		s.logOnce("discovery-error:"+err.Error(), "Cannot tell whether the hub serves ClusterProfiles; will retry", "err", err.Error())
		s.synced.Store(true)
		return
	}
	s.mu.Lock()
	running := s.stop != nil
	s.mu.Unlock()
	switch {
	case !served && running:
		if !s.goneConfirmed(ctx) {
			return
		}
		klog.InfoS("The ClusterProfile API is no longer served; removing its clusters and waiting for it to return")
		s.stopInformers()
	case !served:
		s.logOnce("waiting", "The hub does not serve ClusterProfiles (multicluster.x-k8s.io/v1alpha1); waiting for the CRD to be installed")
		// The same confirmation as for removing clusters, silently: the
		// line above says what is going on.
		if !s.authoritative.Load() {
			if _, _ = s.checkGone(ctx); s.gone >= goneChecks {
				s.authoritative.Store(true)
			}
		}
	case served && !running:
		if err := s.canList(ctx); err != nil {
			s.logOnce("list-error:"+err.Error(), "Cannot list ClusterProfiles on the hub; will retry. Grant clusters-apiserver's identity get, list and watch on clusterprofiles.multicluster.x-k8s.io", "err", err.Error())
			s.synced.Store(true)
			return
		}
		s.startInformers(ctx)
		return
	default:
		return // running; the informers mark the source synced
	}
	s.synced.Store(true)
}

// goneChecks is how many consecutive checks must find the ClusterProfile
// API positively gone before its clusters are removed.
const goneChecks = 3

// goneCheckTimeout bounds the requests of one such check.
const goneCheckTimeout = 10 * time.Second

// goneConfirmed tells, once the hub's discovery has left ClusterProfiles
// out, whether the hub says positively that the API is gone. A hub that is
// starting up leaves CRDs out of discovery until it has loaded them, and a
// failing hub answers errors, and neither means that any cluster is gone:
// the hub must be ready (its /readyz answers ok) and a list of
// ClusterProfiles must answer 404, at goneChecks consecutive checks. (A
// hub whose RBAC forbids /readyz, which by default everyone may read,
// never confirms it.)
// A CRD that is deleted while the informers watch takes its profiles'
// clusters away earlier, through their delete events.
func (s *Source) goneConfirmed(ctx context.Context) bool {
	ready, list := s.checkGone(ctx)
	gone := s.gone
	if gone >= goneChecks {
		return true
	}
	state := func(err error) string {
		if err == nil {
			return "ok"
		}
		return err.Error()
	}
	s.logOnce(fmt.Sprintf("unconfirmed:%d", min(gone, 1)), "The hub's discovery leaves out ClusterProfiles; keeping their clusters until the hub confirms the API is gone",
		"hubReadyz", state(ready), "list", state(list), "confirmations", gone, "needed", goneChecks)
	return false
}

// checkGone makes one check of goneConfirmed, counting it in s.gone, and
// returns what the hub answered.
func (s *Source) checkGone(ctx context.Context) (ready, list error) {
	// A hub that accepts connections and never answers must not stall
	// the checks.
	ctx, cancel := context.WithTimeout(ctx, goneCheckTimeout)
	defer cancel()
	ready = s.discovery.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	_, list = s.client.ApisV1alpha1().ClusterProfiles(s.namespaces()[0]).List(ctx, metav1.ListOptions{Limit: 1})
	if ready == nil && apierrors.IsNotFound(list) {
		s.gone++
	} else {
		s.gone = 0
	}
	return ready, list
}

// served reports whether the hub serves clusterprofiles.
func (s *Source) served() (bool, error) {
	list, err := s.discovery.ServerResourcesForGroupVersion(cpv1alpha1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for i := range list.APIResources {
		if list.APIResources[i].Name == "clusterprofiles" {
			return true, nil
		}
	}
	return false, nil
}

// canList tries one list in every namespace to read, so that a missing
// permission is reported clearly instead of by a retrying informer.
func (s *Source) canList(ctx context.Context) error {
	for _, ns := range s.namespaces() {
		_, err := s.client.ApisV1alpha1().ClusterProfiles(ns).List(ctx, metav1.ListOptions{Limit: 1, LabelSelector: s.opts.LabelSelector})
		if err != nil {
			where := "all namespaces"
			if ns != metav1.NamespaceAll {
				where = "namespace " + ns
			}
			return fmt.Errorf("listing ClusterProfiles in %s: %w", where, err)
		}
	}
	return nil
}

func (s *Source) namespaces() []string {
	if len(s.opts.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return s.opts.Namespaces
}

// startInformers starts one informer per namespace to read and marks the
// source synced when all have listed.
func (s *Source) startInformers(ctx context.Context) {
	ictx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	var synced []cache.InformerSynced
	for _, ns := range s.namespaces() {
		factory := cpinformers.NewSharedInformerFactoryWithOptions(s.client, 0,
			cpinformers.WithNamespace(ns),
			cpinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = s.opts.LabelSelector }))
		informer := factory.Apis().V1alpha1().ClusterProfiles().Informer()
		reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.publish(gen, obj) },
			UpdateFunc: func(_, obj any) { s.publish(gen, obj) },
			DeleteFunc: func(obj any) { s.remove(gen, obj) },
		})
		if err != nil {
			klog.ErrorS(err, "Cannot watch ClusterProfiles")
			cancel()
			return
		}
		factory.Start(ictx.Done())
		// The handler's HasSynced, not the informer's: readyz must wait
		// until every initial profile is in the inventory, not only in
		// the informer's store.
		synced = append(synced, reg.HasSynced)
	}
	s.mu.Lock()
	s.stop = cancel
	s.logged = ""
	s.mu.Unlock()
	klog.InfoS("Reading ClusterProfiles from the hub", "namespaces", s.opts.Namespaces, "labelSelector", s.opts.LabelSelector)
	go func() {
		if cache.WaitForCacheSync(ictx.Done(), synced...) {
			s.synced.Store(true)
			s.authoritative.Store(true)
		}
	}()
}

// stopInformers stops reading and removes every published profile.
func (s *Source) stopInformers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	for owner := range s.owners {
		s.inv.Replace(owner, nil)
	}
	s.owners = map[string]bool{}
	s.problems = map[string]string{}
}

func (s *Source) publish(gen int, obj any) {
	cp, ok := obj.(*cpv1alpha1.ClusterProfile)
	if !ok {
		return
	}
	m := s.builder.member(cp)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil || gen != s.gen {
		return // from informers stopped meanwhile
	}
	s.logProblem(m, cp)
	s.owners[m.Origin] = true
	s.inv.Replace(m.Origin, []inventory.Member{m})
}

func (s *Source) remove(gen int, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	cp, ok := obj.(*cpv1alpha1.ClusterProfile)
	if !ok {
		return
	}
	origin := "clusterprofile:" + cp.Namespace + "/" + cp.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	delete(s.owners, origin)
	delete(s.problems, origin)
	s.inv.Replace(origin, nil)
}

// logProblem logs why a profile cannot be reached when that changes.
func (s *Source) logProblem(m inventory.Member, cp *cpv1alpha1.ClusterProfile) {
	problem := ""
	if m.Access.Err != nil {
		problem = m.Access.Err.Error()
	}
	if s.problems[m.Origin] == problem {
		return
	}
	if problem == "" {
		delete(s.problems, m.Origin)
		return
	}
	s.problems[m.Origin] = problem
	klog.InfoS("ClusterProfile cannot be reached", "clusterProfile", klog.KObj(cp), "reason", m.Access.Err.Reason, "message", inventory.Redact(m.Access.Err.Message))
}

// logOnce logs msg when state differs from the last state logged.
func (s *Source) logOnce(state, msg string, kv ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logged == state {
		return
	}
	s.logged = state
	klog.InfoS(msg, kv...)
}
