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
	"slices"
	"time"

	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/health"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources/clusterprofile"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources/kubeconfig"
)

// Options are the command-line options of clusters-apiserver.
type Options struct {
	SecureServing  *genericoptions.SecureServingOptionsWithLoopback
	Authentication *genericoptions.DelegatingAuthenticationOptions
	Authorization  *genericoptions.DelegatingAuthorizationOptions
	Audit          *genericoptions.AuditOptions
	Features       *genericoptions.FeatureOptions
	Logs           *logsapi.LoggingConfiguration

	// Kubeconfig is the kubeconfig of the hub; in-cluster config when empty.
	Kubeconfig string
	// KubeconfigSources are kubeconfig files or directories of them.
	KubeconfigSources []string
	// KubeconfigPollInterval is how often kubeconfig sources are checked.
	KubeconfigPollInterval time.Duration
	// KubeconfigSourceIdentity maps a --kubeconfig-source path to the
	// proxy identity mode of its clusters.
	KubeconfigSourceIdentity map[string]string
	// ProxyIdentity is the default proxy identity mode: "impersonate" or
	// "source".
	ProxyIdentity string
	// ProxyIdentityMapping is how the hub user is presented to members
	// reached with impersonation.
	ProxyIdentityMapping proxy.Identity
	// ProxyTimeouts bound reaching a member; none limits a streaming body.
	ProxyTimeouts member.Timeouts
	// ProxyLimits bound the proxied requests in flight.
	ProxyLimits proxy.Limits
	// Health configures the background health checks of members.
	Health health.Options
	// ClusterProfiles configures the ClusterProfile source.
	ClusterProfiles ClusterProfileOptions
	// LeaderElection makes several replicas serve one Cluster API.
	LeaderElection LeaderElectionOptions
	// ShutdownDelay is how long the server keeps serving after it is told
	// to stop, /readyz failing, so that endpoints stop sending it requests.
	ShutdownDelay time.Duration
	// ShutdownWatchGrace is how long a stopping server takes to end its
	// watches cleanly.
	ShutdownWatchGrace time.Duration
	// ShowVersion prints the version and exits.
	ShowVersion bool
}

// ClusterProfileOptions configure the ClusterProfile source.
type ClusterProfileOptions struct {
	Enabled       bool
	ProviderFile  string
	Namespaces    []string
	LabelSelector string
	Identity      string
	CheckInterval time.Duration
}

// LeaderElectionOptions configure the replicas' shared state: a leader,
// elected through a Lease on the hub, checks the members' health and
// publishes ClusterStates that every replica serves.
type LeaderElectionOptions struct {
	Enabled        bool
	Namespace      string
	LeaseName      string
	LeaseDuration  time.Duration
	RenewDeadline  time.Duration
	RetryPeriod    time.Duration
	PublishWorkers int
	PublishQPS     float64
}

// DefaultLeaderElection returns the default leader election options: a new
// leader within about 12 s of the old one dying.
func DefaultLeaderElection() LeaderElectionOptions {
	return LeaderElectionOptions{
		Namespace:      "clusters-system",
		LeaseName:      "clusters-apiserver",
		LeaseDuration:  10 * time.Second,
		RenewDeadline:  7 * time.Second,
		RetryPeriod:    2 * time.Second,
		PublishWorkers: 64,
		PublishQPS:     500,
	}
}

// Proxy identity modes.
const (
	// IdentityImpersonate forwards with the source credential and
	// impersonation of the hub user: the member's RBAC decides.
	IdentityImpersonate = "impersonate"
	// IdentitySource forwards with the source credential alone: every hub
	// user allowed clusters/proxy acts on the member as that credential.
	IdentitySource = "source"
)

// NewOptions returns the default options.
func NewOptions() *Options {
	o := &Options{
		SecureServing:          genericoptions.NewSecureServingOptions().WithLoopback(),
		Authentication:         genericoptions.NewDelegatingAuthenticationOptions(),
		Authorization:          genericoptions.NewDelegatingAuthorizationOptions(),
		Audit:                  genericoptions.NewAuditOptions(),
		Features:               genericoptions.NewFeatureOptions(),
		Logs:                   logsapi.NewLoggingConfiguration(),
		KubeconfigPollInterval: kubeconfig.DefaultPollInterval,
		ProxyIdentity:          IdentityImpersonate,
		ProxyIdentityMapping:   proxy.DefaultIdentity(),
		ProxyTimeouts:          member.DefaultTimeouts(),
		ProxyLimits:            proxy.DefaultLimits(),
		ClusterProfiles: ClusterProfileOptions{
			LabelSelector: clusterprofile.DefaultLabelSelector,
			CheckInterval: clusterprofile.DefaultCheckInterval,
		},
		Health:         health.DefaultOptions(),
		LeaderElection: DefaultLeaderElection(),

		ShutdownWatchGrace: 5 * time.Second,
	}
	// The hub's aggregation layer multiplexes many requests, watches among
	// them, over few HTTP/2 connections to this server.
	o.SecureServing.HTTP2MaxStreamsPerConnection = 1000
	o.SecureServing.BindPort = 6443
	o.SecureServing.ServerCert.CertDirectory = ""
	o.SecureServing.ServerCert.PairName = "clusters-apiserver"
	// The hub already applies priority and fairness before it forwards a
	// request here; doing it again needs extra RBAC and buys nothing.
	o.Features.EnablePriorityAndFairness = false
	return o
}

// Flags returns the flags, grouped for --help.
func (o *Options) Flags() cliflag.NamedFlagSets {
	var fss cliflag.NamedFlagSets

	fs := fss.FlagSet("sources")
	fs.StringArrayVar(&o.KubeconfigSources, "kubeconfig-source", o.KubeconfigSources,
		"A kubeconfig file, or a directory of kubeconfig files, whose contexts are served as Clusters. Repeatable; on a name collision the earlier flag wins. Changes are picked up without a restart.")
	fs.DurationVar(&o.KubeconfigPollInterval, "kubeconfig-source-poll-interval", o.KubeconfigPollInterval,
		"How often kubeconfig sources are checked for changes.")

	fs.Var(cliflag.NewMapStringString(&o.KubeconfigSourceIdentity), "kubeconfig-source-identity",
		"PATH=MODE pairs overriding --proxy-identity for the clusters of one --kubeconfig-source PATH (as given there). Repeatable or comma-separated.")

	fs.BoolVar(&o.ClusterProfiles.Enabled, "clusterprofile-source", o.ClusterProfiles.Enabled,
		"Serve the hub's Cluster Inventory API ClusterProfiles (multicluster.x-k8s.io/v1alpha1) as Clusters. Needs the hub (--kubeconfig or in-cluster) and --clusterprofile-provider-file.")
	fs.StringVar(&o.ClusterProfiles.ProviderFile, "clusterprofile-provider-file", o.ClusterProfiles.ProviderFile,
		"JSON file of access providers ({\"providers\": [{\"name\": ..., \"execConfig\": {...}}]}, the format of sigs.k8s.io/cluster-inventory-api/pkg/access). A profile is reached through the first provider of this file that its status.accessProviders offers.")
	fs.StringSliceVar(&o.ClusterProfiles.Namespaces, "clusterprofile-namespaces", o.ClusterProfiles.Namespaces,
		"Namespaces to read ClusterProfiles from; required with --clusterprofile-source. Whoever may write a ClusterProfile's status in one of them chooses where the credential of that profile's cluster is sent, so list only namespaces you trust; '*' means every namespace.")
	fs.StringVar(&o.ClusterProfiles.LabelSelector, "clusterprofile-label-selector", o.ClusterProfiles.LabelSelector,
		"Label selector of the ClusterProfiles to serve. The default hides profiles labelled "+clusterprofile.IgnoreLabel+"=true.")
	fs.StringVar(&o.ClusterProfiles.Identity, "clusterprofile-identity", o.ClusterProfiles.Identity,
		"Proxy identity mode for ClusterProfile clusters, overriding --proxy-identity: impersonate or source.")
	fs.DurationVar(&o.ProxyTimeouts.CredentialPlugin, "clusterprofile-exec-timeout", o.ProxyTimeouts.CredentialPlugin,
		"Deprecated: use --credential-plugin-timeout, which it sets.")
	_ = fs.MarkDeprecated("clusterprofile-exec-timeout", "use --credential-plugin-timeout; it applies to the plugins of every source")
	fs.DurationVar(&o.ClusterProfiles.CheckInterval, "clusterprofile-check-interval", o.ClusterProfiles.CheckInterval,
		"How often the server checks whether the hub serves ClusterProfiles (the CRD may be installed or removed at any time).")

	fs = fss.FlagSet("proxy")
	fs.StringVar(&o.ProxyIdentity, "proxy-identity", o.ProxyIdentity,
		"How the proxy identifies requests to members: 'impersonate' sends the source credential with impersonation of the hub user, so the member's RBAC decides; 'source' sends the source credential alone, so every hub user allowed clusters/proxy acts with its rights on the member.")
	fs.StringVar(&o.ProxyIdentityMapping.UserPrefix, "proxy-user-prefix", o.ProxyIdentityMapping.UserPrefix,
		"Put before the hub user's name when impersonating it on members, e.g. 'hub:', so that hub users cannot pass for the members' own users.")
	fs.StringVar(&o.ProxyIdentityMapping.GroupPrefix, "proxy-group-prefix", o.ProxyIdentityMapping.GroupPrefix,
		"Put before each hub group name when impersonating it on members, e.g. 'hub:'.")
	fs.StringSliceVar(&o.ProxyIdentityMapping.DropGroups, "proxy-drop-groups", o.ProxyIdentityMapping.DropGroups,
		"Hub groups never forwarded to members when impersonating. The default drops system:masters and kubeadm:cluster-admins, the groups that are admin on every (kubeadm) cluster, so that a hub admin group does not silently become admin of every member; give an empty value to forward every group.")
	fs.DurationVar(&o.ProxyTimeouts.Dial, "proxy-dial-timeout", o.ProxyTimeouts.Dial, "How long connecting to a member may take.")
	fs.DurationVar(&o.ProxyTimeouts.TLSHandshake, "proxy-tls-handshake-timeout", o.ProxyTimeouts.TLSHandshake, "How long the TLS handshake with a member may take.")
	fs.DurationVar(&o.ProxyTimeouts.ResponseHeader, "proxy-response-header-timeout", o.ProxyTimeouts.ResponseHeader,
		"How long a member may take to start its response. Streaming bodies (watch, logs) are not limited.")
	fs.DurationVar(&o.ProxyTimeouts.CredentialPlugin, "credential-plugin-timeout", o.ProxyTimeouts.CredentialPlugin,
		"How long one run of an exec credential plugin (of a kubeconfig user or a ClusterProfile access provider) may take before it is killed with its process group; its cluster is then not ready and its requests fail with 503.")
	fs.IntVar(&o.ProxyLimits.RequestsPerUser, "proxy-max-requests-per-user", o.ProxyLimits.RequestsPerUser,
		"Proxied requests (not streams) one hub user may have in flight through this server, to all clusters; more are refused with 429 and Retry-After. 0: no limit.")
	fs.IntVar(&o.ProxyLimits.RequestsPerCluster, "proxy-max-requests-per-cluster", o.ProxyLimits.RequestsPerCluster,
		"Proxied requests (not streams) in flight through this server to one cluster, of all users. 0: no limit.")
	fs.IntVar(&o.ProxyLimits.Requests, "proxy-max-requests", o.ProxyLimits.Requests,
		"Proxied requests (not streams) in flight through this server in all. 0: no limit.")
	fs.IntVar(&o.ProxyLimits.StreamsPerUser, "proxy-max-streams-per-user", o.ProxyLimits.StreamsPerUser,
		"Proxied streams (watches, followed logs, exec, attach, port-forward, WebSocket watches) one hub user may hold open through this server, to all clusters. 0: no limit.")
	fs.IntVar(&o.ProxyLimits.StreamsPerCluster, "proxy-max-streams-per-cluster", o.ProxyLimits.StreamsPerCluster,
		"Proxied streams open through this server to one cluster, of all users. 0: no limit.")
	fs.IntVar(&o.ProxyLimits.Streams, "proxy-max-streams", o.ProxyLimits.Streams,
		"Proxied streams open through this server in all. 0: no limit.")

	fs = fss.FlagSet("health checks")
	fs.DurationVar(&o.Health.Interval, "health-probe-interval", o.Health.Interval, "Time between health checks of a healthy member.")
	fs.DurationVar(&o.Health.MaxInterval, "health-probe-max-interval", o.Health.MaxInterval, "Longest time between health checks of a failing member (exponential back-off).")
	fs.DurationVar(&o.Health.Timeout, "health-probe-timeout", o.Health.Timeout, "How long one health check may take.")
	fs.IntVar(&o.Health.Workers, "health-probe-workers", o.Health.Workers, "How many members are checked at once.")
	fs.Float64Var(&o.Health.MaxRate, "health-probe-max-rate", o.Health.MaxRate,
		"Most health checks per second over all members: a fleet larger than interval × rate is checked less often.")

	fs = fss.FlagSet("high availability")
	le := &o.LeaderElection
	fs.BoolVar(&le.Enabled, "leader-elect", le.Enabled,
		"Run as one of several replicas that serve one Cluster API: the replica holding a Lease on the hub checks the members' health and publishes each Cluster's public state to a ClusterState (internal.clusters.headlamp.dev) on the hub, and every replica serves Clusters from those, with the hub's resourceVersions. Needs the hub and the ClusterState CRD of artifacts/deploy.")
	fs.StringVar(&le.Namespace, "leader-elect-namespace", le.Namespace, "Namespace of the Lease on the hub.")
	fs.StringVar(&le.LeaseName, "leader-elect-lease-name", le.LeaseName, "Name of the Lease on the hub.")
	fs.DurationVar(&le.LeaseDuration, "leader-elect-lease-duration", le.LeaseDuration,
		"How long the other replicas wait, after the leader last renewed the Lease, before one of them takes over.")
	fs.DurationVar(&le.RenewDeadline, "leader-elect-renew-deadline", le.RenewDeadline,
		"How long the leader keeps trying to renew the Lease before it stops leading; less than the lease duration.")
	fs.DurationVar(&le.RetryPeriod, "leader-elect-retry-period", le.RetryPeriod,
		"How often replicas try to take or renew the Lease; less than the renew deadline.")
	fs.IntVar(&le.PublishWorkers, "clusterstate-publish-workers", le.PublishWorkers,
		"How many ClusterStates the leader writes at once.")
	fs.Float64Var(&le.PublishQPS, "clusterstate-publish-qps", le.PublishQPS,
		"Most requests per second the leader sends the hub to publish ClusterStates (with a burst of twice as many). Writes happen only when a Cluster changes.")

	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay-duration", o.ShutdownDelay,
		"How long the server goes on serving after SIGTERM, its /readyz failing, so that the hub's endpoints stop sending it requests before it stops listening.")
	fs.DurationVar(&o.ShutdownWatchGrace, "shutdown-watch-termination-grace-period", o.ShutdownWatchGrace,
		"How long a stopping server takes to end its Cluster watches cleanly, so that their clients resume on another replica from their resourceVersion instead of listing again. 0: watches are cut when the server stops.")

	fs = fss.FlagSet("hub")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Kubeconfig of the hub cluster this server reads from. Empty means the in-cluster configuration.")

	o.SecureServing.AddFlags(fss.FlagSet("secure serving"))
	o.Authentication.AddFlags(fss.FlagSet("authentication"))
	o.Authorization.AddFlags(fss.FlagSet("authorization"))
	o.Audit.AddFlags(fss.FlagSet("audit"))
	o.Features.AddFlags(fss.FlagSet("features"))
	logsapi.AddFlags(o.Logs, fss.FlagSet("logging"))

	fs = fss.FlagSet("global")
	fs.BoolVar(&o.ShowVersion, "version", false, "Print the version and exit.")
	return fss
}

// Validate checks the options and returns every problem found.
func (o *Options) Validate() []error {
	var errs []error
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	errs = append(errs, o.Audit.Validate()...)
	errs = append(errs, o.Features.Validate()...)
	if len(o.KubeconfigSources) == 0 && !o.ClusterProfiles.Enabled {
		errs = append(errs, fmt.Errorf("no source of clusters: give at least one --kubeconfig-source, or --clusterprofile-source"))
	}
	if o.ClusterProfiles.Enabled {
		if o.ClusterProfiles.ProviderFile == "" {
			errs = append(errs, fmt.Errorf("--clusterprofile-source needs --clusterprofile-provider-file"))
		}
		if _, err := labels.Parse(o.ClusterProfiles.LabelSelector); err != nil {
			errs = append(errs, fmt.Errorf("--clusterprofile-label-selector: %w", err))
		}
		switch ns := o.ClusterProfiles.Namespaces; {
		case len(ns) == 0:
			errs = append(errs, fmt.Errorf("--clusterprofile-source needs --clusterprofile-namespaces: the namespaces whose ClusterProfiles you trust, or '*' for all"))
		case slices.Contains(ns, "*") && len(ns) > 1:
			errs = append(errs, fmt.Errorf("--clusterprofile-namespaces: '*' means every namespace and cannot be listed with others"))
		}
		if o.ClusterProfiles.CheckInterval <= 0 {
			errs = append(errs, fmt.Errorf("--clusterprofile-check-interval must be positive"))
		}
	}
	modes := append([]string{o.ProxyIdentity}, mapValues(o.KubeconfigSourceIdentity)...)
	if o.ClusterProfiles.Identity != "" {
		modes = append(modes, o.ClusterProfiles.Identity)
	}
	for _, mode := range modes {
		if mode != IdentityImpersonate && mode != IdentitySource {
			errs = append(errs, fmt.Errorf("proxy identity %q is not %q or %q", mode, IdentityImpersonate, IdentitySource))
		}
	}
	for path := range o.KubeconfigSourceIdentity {
		if !slices.Contains(o.KubeconfigSources, path) {
			errs = append(errs, fmt.Errorf("--kubeconfig-source-identity names %q, which is not a --kubeconfig-source", path))
		}
	}
	for name, d := range map[string]time.Duration{
		"--proxy-dial-timeout": o.ProxyTimeouts.Dial, "--proxy-tls-handshake-timeout": o.ProxyTimeouts.TLSHandshake,
		"--proxy-response-header-timeout": o.ProxyTimeouts.ResponseHeader, "--health-probe-interval": o.Health.Interval,
		"--health-probe-timeout": o.Health.Timeout, "--credential-plugin-timeout": o.ProxyTimeouts.CredentialPlugin,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	for name, n := range map[string]int{
		"--proxy-max-requests-per-user": o.ProxyLimits.RequestsPerUser, "--proxy-max-requests-per-cluster": o.ProxyLimits.RequestsPerCluster,
		"--proxy-max-requests": o.ProxyLimits.Requests, "--proxy-max-streams-per-user": o.ProxyLimits.StreamsPerUser,
		"--proxy-max-streams-per-cluster": o.ProxyLimits.StreamsPerCluster, "--proxy-max-streams": o.ProxyLimits.Streams,
	} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (no limit) or positive, got %d", name, n))
		}
	}
	if o.Health.MaxRate <= 0 || o.Health.Workers <= 0 {
		errs = append(errs, fmt.Errorf("--health-probe-max-rate and --health-probe-workers must be positive"))
	}
	if o.Health.MaxInterval < o.Health.Interval {
		errs = append(errs, fmt.Errorf("--health-probe-max-interval (%s) must be at least --health-probe-interval (%s)", o.Health.MaxInterval, o.Health.Interval))
	}
	if o.ShutdownDelay < 0 || o.ShutdownWatchGrace < 0 {
		errs = append(errs, fmt.Errorf("--shutdown-delay-duration and --shutdown-watch-termination-grace-period must not be negative"))
	}
	if le := o.LeaderElection; le.Enabled {
		if le.Namespace == "" || le.LeaseName == "" {
			errs = append(errs, fmt.Errorf("--leader-elect needs --leader-elect-namespace and --leader-elect-lease-name"))
		}
		if le.RetryPeriod <= 0 || le.RenewDeadline <= le.RetryPeriod || le.LeaseDuration <= le.RenewDeadline {
			errs = append(errs, fmt.Errorf("--leader-elect-retry-period (%s) must be positive and less than --leader-elect-renew-deadline (%s), which must be less than --leader-elect-lease-duration (%s)",
				le.RetryPeriod, le.RenewDeadline, le.LeaseDuration))
		}
		if le.PublishWorkers <= 0 || le.PublishQPS <= 0 {
			errs = append(errs, fmt.Errorf("--clusterstate-publish-workers and --clusterstate-publish-qps must be positive"))
		}
	}
	if o.KubeconfigPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--kubeconfig-source-poll-interval must be at least 100ms, got %s", o.KubeconfigPollInterval))
	}
	return errs
}

// impersonates tells whether the proxy impersonates the hub user for the
// clusters of kubeconfig source path.
func (o *Options) impersonates(path string) bool {
	mode, ok := o.KubeconfigSourceIdentity[path]
	if !ok {
		mode = o.ProxyIdentity
	}
	return mode == IdentityImpersonate
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
