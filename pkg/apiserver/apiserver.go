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

// Package apiserver assembles clusters-apiserver: the generic API server,
// the clusters.headlamp.dev group served from the inventory, and the
// sources that fill the inventory.
package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/health"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
	clusterstorage "github.com/headlamp-k8s/clusters-apiserver/pkg/registry/cluster"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources"
)

// ExtraConfig is the configuration specific to clusters-apiserver.
type ExtraConfig struct {
	// Inventory is the set of member clusters the API serves.
	Inventory *inventory.Inventory
	// Sources fill the inventory. readyz waits for each one's first sync.
	Sources []sources.Source
	// Proxy serves the clusters/proxy subresource.
	Proxy *proxy.Proxy
	// Transports reach the members, for the proxy and the prober; the
	// server drops those of members that leave or change.
	Transports *member.Transports
	// Prober checks members' health in the background: always, or while
	// this replica leads when Shared is set.
	Prober *health.Prober
	// Shared, when set, makes the replicas serve one Cluster API from
	// ClusterStates on the hub, published by an elected leader.
	Shared *SharedState
}

// Config is the whole configuration of the server.
type Config struct {
	GenericConfig *genericapiserver.RecommendedConfig
	ExtraConfig   ExtraConfig
}

type completedConfig struct {
	GenericConfig genericapiserver.CompletedConfig
	ExtraConfig   *ExtraConfig
}

// CompletedConfig is a Config with every default filled in.
type CompletedConfig struct {
	*completedConfig
}

// Server is a running clusters-apiserver.
type Server struct {
	GenericAPIServer *genericapiserver.GenericAPIServer
}

// Complete fills in the fields of cfg that are not set. The handler chain
// gains, innermost, proxyRoute when a proxy is configured, and listCache
// when the Clusters are served from the inventory (not from the hub).
func (cfg *Config) Complete() CompletedConfig {
	extra := cfg.ExtraConfig
	if extra.Proxy != nil || (extra.Inventory != nil && extra.Shared == nil) {
		chain := cfg.GenericConfig.BuildHandlerChainFunc
		if chain == nil {
			chain = genericapiserver.DefaultBuildHandlerChain
		}
		cfg.GenericConfig.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
			if extra.Inventory != nil && extra.Shared == nil {
				apiHandler = newListCache(apiHandler, extra.Inventory.ResourceVersion, newListEncoder(extra.Inventory))
			}
			if extra.Proxy != nil {
				apiHandler = proxyRoute(apiHandler, extra.Proxy)
			}
			return chain(apiHandler, c)
		}
	}
	return CompletedConfig{&completedConfig{
		GenericConfig: cfg.GenericConfig.Complete(),
		ExtraConfig:   &cfg.ExtraConfig,
	}}
}

// New returns a server for the completed configuration.
func (c completedConfig) New() (*Server, error) {
	if c.ExtraConfig.Inventory == nil {
		return nil, fmt.Errorf("no inventory configured")
	}
	generic, err := c.GenericConfig.New("clusters-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	extra := c.ExtraConfig
	if extra.Proxy == nil || extra.Prober == nil || extra.Transports == nil {
		return nil, fmt.Errorf("no proxy, prober or transports configured")
	}
	s := &Server{GenericAPIServer: generic}

	group := genericapiserver.NewDefaultAPIGroupInfo(clusters.GroupName, Scheme, ParameterCodec, Codecs)
	group.NegotiatedSerializer = Serializer
	var clustersStorage rest.Storage = clusterstorage.NewREST(extra.Inventory)
	if extra.Shared != nil {
		clustersStorage = clusterstorage.NewHubREST(extra.Shared.States)
	}
	group.VersionedResourcesStorageMap["v1alpha1"] = map[string]rest.Storage{
		"clusters":       clustersStorage,
		"clusters/proxy": clusterstorage.NewProxyREST(extra.Proxy),
	}
	if err := generic.InstallAPIGroup(&group); err != nil {
		return nil, err
	}

	// The background work starts once the server serves, as post-start
	// hooks (each shows as a poststarthook/... check in /healthz, /livez
	// and /readyz), and stops with it.
	for _, src := range extra.Sources {
		if err := generic.AddPostStartHook("start-"+src.Name(), func(ctx genericapiserver.PostStartHookContext) error {
			go src.Run(ctx)
			return nil
		}); err != nil {
			return nil, err
		}
		if err := generic.AddReadyzChecks(syncedCheck(src)); err != nil {
			return nil, err
		}
	}
	health.RegisterMetrics()
	if extra.Shared == nil {
		if err := generic.AddPostStartHook("start-member-health-prober", func(ctx genericapiserver.PostStartHookContext) error {
			go extra.Prober.Run(ctx)
			return nil
		}); err != nil {
			return nil, err
		}
	} else if err := s.shareState(generic, extra); err != nil {
		return nil, err
	}
	if err := generic.AddPostStartHook("start-member-transport-pruning", func(ctx genericapiserver.PostStartHookContext) error {
		go extra.Transports.Follow(ctx, extra.Inventory)
		// The proxy's metric series of a cluster go with it too.
		go proxy.FollowClusters(ctx, extra.Inventory)
		return nil
	}); err != nil {
		return nil, err
	}
	if rh := c.GenericConfig.Authentication.RequestHeaderConfig; rh != nil && rh.CAContentProvider != nil && c.GenericConfig.SecureServing != nil {
		check := &frontProxyCACheck{ca: rh.CAContentProvider, userHdrs: rh.UsernameHeaders, addr: c.GenericConfig.SecureServing.Listener.Addr()}
		if err := generic.AddReadyzChecks(check); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// shareState starts the leader election, whose leader checks the members'
// health and publishes ClusterStates, and adds the readyz check that the
// hub serves them.
func (s *Server) shareState(generic *genericapiserver.GenericAPIServer, extra *ExtraConfig) error {
	shared := extra.Shared
	hubstate.RegisterMetrics()
	if err := generic.AddReadyzChecks(&statesCheck{states: shared.States}); err != nil {
		return err
	}
	synced := allSynced(extra.Sources)
	return generic.AddPostStartHook("start-leader-election", func(ctx genericapiserver.PostStartHookContext) error {
		go s.lead(ctx, shared, func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Go(func() { extra.Prober.Run(ctx) })
			wg.Go(func() {
				hubstate.NewPublisher(extra.Inventory, shared.Publish, synced, authoritative(extra.Sources), shared.PublishWorkers).Run(ctx)
			})
			wg.Wait()
			// What this replica checked goes stale once another leads.
			extra.Inventory.ForgetHealth()
		})
		return nil
	})
}

// Run serves until ctx is done; the post-start hooks start the sources,
// the prober and the transport pruning.
func (s *Server) Run(ctx context.Context) error {
	return s.GenericAPIServer.PrepareRun().RunWithContext(ctx)
}

// syncedCheck is a readyz check that passes once src has synced.
func syncedCheck(src sources.Source) healthz.HealthChecker {
	return healthz.NamedCheck(src.Name(), func(*http.Request) error {
		if !src.HasSynced() {
			return fmt.Errorf("%s has not synced yet", src.Name())
		}
		return nil
	})
}
