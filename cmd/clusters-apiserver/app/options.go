package app

import (
	"fmt"
	"time"

	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"
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
	// ShowVersion prints the version and exits.
	ShowVersion bool
}

// NewOptions returns the default options.
func NewOptions() *Options {
	o := &Options{
		SecureServing:          genericoptions.NewSecureServingOptions().WithLoopback(),
		Authentication:         genericoptions.NewDelegatingAuthenticationOptions(),
		Authorization:          genericoptions.NewDelegatingAuthorizationOptions(),
		Audit:                  genericoptions.NewAuditOptions(),
		Features:               genericoptions.NewFeatureOptions(),
		Logs:                   logsapi.NewLoggingConfiguration(),
		KubeconfigPollInterval: time.Second,
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
	if len(o.KubeconfigSources) == 0 {
		errs = append(errs, fmt.Errorf("no source of clusters: give at least one --kubeconfig-source"))
	}
	if o.KubeconfigPollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--kubeconfig-source-poll-interval must be at least 100ms, got %s", o.KubeconfigPollInterval))
	}
	return errs
}
