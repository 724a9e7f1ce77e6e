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

package app

import (
	"fmt"
	"net"
	"os"
	"slices"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/apiserver/pkg/util/compatibility"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apiserver"
	generatedopenapi "github.com/headlamp-k8s/clusters-apiserver/pkg/generated/openapi"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/health"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources/clusterprofile"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources/kubeconfig"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/version"
)

// Config turns the options into a server configuration.
func (o *Options) Config() (*apiserver.Config, error) {
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{netutils.ParseIPSloppy("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("creating self-signed certificates: %w", err)
	}

	cfg := genericapiserver.NewRecommendedConfig(apiserver.Codecs)
	cfg.Serializer = apiserver.Serializer
	cfg.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	cfg.FeatureGate = utilfeature.DefaultFeatureGate
	cfg.RequestInfoResolver = apiserver.NewRequestInfoResolver(&cfg.Config)
	cfg.ShutdownDelayDuration = o.ShutdownDelay
	cfg.ShutdownWatchTerminationGracePeriod = o.ShutdownWatchGrace

	namer := openapi.NewDefinitionNamer(apiserver.Scheme)
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIConfig.Info.Title = "clusters-apiserver"
	cfg.OpenAPIConfig.Info.Version = version.Version
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	cfg.OpenAPIV3Config.Info.Title = "clusters-apiserver"
	cfg.OpenAPIV3Config.Info.Version = version.Version

	if err := o.SecureServing.ApplyTo(&cfg.SecureServing, &cfg.LoopbackClientConfig); err != nil {
		return nil, err
	}
	if err := o.Authentication.ApplyTo(&cfg.Authentication, cfg.SecureServing, cfg.OpenAPIConfig); err != nil {
		return nil, err
	}
	cfg.Authentication.Authenticator = apiserver.NewCachedCertAuthenticator(cfg.Authentication.Authenticator, cfg.Authentication.RequestHeaderConfig, apiserver.FrontProxyAuthnCacheTTL)
	if err := o.Authorization.ApplyTo(&cfg.Authorization); err != nil {
		return nil, err
	}
	if err := o.Audit.ApplyTo(&cfg.Config); err != nil {
		return nil, err
	}
	if err := o.Features.ApplyTo(&cfg.Config, nil, nil); err != nil {
		return nil, err
	}
	hub, err := o.hubConfig()
	if err != nil {
		return nil, err
	}
	cfg.ClientConfig = hub

	// Proxied requests stream for as long as the client and member keep
	// them open: no request timeout applies to them, as for watches.
	cfg.LongRunningFunc = genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch", "proxy"), sets.NewString("proxy"))

	inv := inventory.New()
	srcs := []sources.Source{
		kubeconfig.New(inv, o.KubeconfigSources, o.KubeconfigPollInterval, o.impersonates),
	}
	if o.ClusterProfiles.Enabled {
		src, err := o.clusterProfileSource(inv, hub)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	proxy.RegisterMetrics()
	transports := member.NewTransports(member.Options{
		Timeouts: o.ProxyTimeouts,
		Built:    proxy.TransportBuilt,
	})
	prober, err := health.New(inv, transports, o.Health)
	if err != nil {
		return nil, err
	}
	var shared *apiserver.SharedState
	if o.LeaderElection.Enabled {
		if shared, err = o.sharedState(hub); err != nil {
			return nil, err
		}
	}
	return &apiserver.Config{
		GenericConfig: cfg,
		ExtraConfig: apiserver.ExtraConfig{
			Inventory:  inv,
			Sources:    srcs,
			Proxy:      proxy.New(inv, transports, cfg.Authorization.Authorizer, o.ProxyIdentityMapping, o.ProxyLimits),
			Transports: transports,
			Prober:     prober,
			Shared:     shared,
		},
	}, nil
}

// sharedState builds the Lease and the ClusterState client of
// --leader-elect.
func (o *Options) sharedState(hub *rest.Config) (*apiserver.SharedState, error) {
	le := o.LeaderElection
	if hub == nil {
		return nil, fmt.Errorf("--leader-elect keeps the shared state on the hub: give --kubeconfig, or run in a cluster")
	}
	identity, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: naming this replica: %w", err)
	}
	identity += "_" + string(uuid.NewUUID())
	kube, err := kubernetes.NewForConfig(hub)
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, le.Namespace, le.LeaseName,
		kube.CoreV1(), kube.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return nil, err
	}
	// Reads serve the API's clients, whom the hub's priority and fairness
	// already limit: no client-side limit. Writes are the leader's own,
	// limited here.
	read := rest.CopyConfig(hub)
	read.QPS = -1
	reader, err := dynamic.NewForConfig(read)
	if err != nil {
		return nil, err
	}
	write := rest.CopyConfig(hub)
	write.QPS, write.Burst = float32(le.PublishQPS), int(2*le.PublishQPS)
	writer, err := dynamic.NewForConfig(write)
	if err != nil {
		return nil, err
	}
	return &apiserver.SharedState{
		States:         reader.Resource(hubstate.Resource),
		Publish:        writer.Resource(hubstate.Resource),
		Lock:           lock,
		LeaseDuration:  le.LeaseDuration,
		RenewDeadline:  le.RenewDeadline,
		RetryPeriod:    le.RetryPeriod,
		PublishWorkers: le.PublishWorkers,
	}, nil
}

// clusterProfileSource builds the ClusterProfile source.
func (o *Options) clusterProfileSource(inv *inventory.Inventory, hub *rest.Config) (sources.Source, error) {
	if hub == nil {
		return nil, fmt.Errorf("--clusterprofile-source reads the hub: give --kubeconfig, or run in a cluster")
	}
	providers, err := clusterprofile.LoadProviders(o.ClusterProfiles.ProviderFile)
	if err != nil {
		return nil, err
	}
	client, err := cpclient.NewForConfig(hub)
	if err != nil {
		return nil, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(hub)
	if err != nil {
		return nil, err
	}
	mode := o.ClusterProfiles.Identity
	if mode == "" {
		mode = o.ProxyIdentity
	}
	namespaces := o.ClusterProfiles.Namespaces
	if slices.Equal(namespaces, []string{"*"}) {
		namespaces = nil // every namespace, as the source reads no list
	}
	return clusterprofile.New(inv, disc, client, providers, clusterprofile.Options{
		Namespaces:    namespaces,
		LabelSelector: o.ClusterProfiles.LabelSelector,
		ProviderFile:  o.ClusterProfiles.ProviderFile,
		Impersonate:   mode == IdentityImpersonate,
		CheckInterval: o.ClusterProfiles.CheckInterval,
	}), nil
}

// hubConfig returns the client configuration of the hub: --kubeconfig, the
// in-cluster configuration, or nil when neither is available and nothing
// needs the hub.
func (o *Options) hubConfig() (*rest.Config, error) {
	if o.Kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("loading the hub kubeconfig --kubeconfig=%s: %w", o.Kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		klog.InfoS("No hub kubeconfig and not running in a cluster; sources that read the hub are unavailable", "reason", err.Error())
		return nil, nil
	}
	return cfg, nil
}
