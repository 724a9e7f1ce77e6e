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

package member

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"strings"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// Classify turns an error from reaching a member into a condition reason
// and a message for users. The message never holds a credential: it is
// built from network, TLS and HTTP errors, which carry none.
//
// The error's type decides first. Only errors that client-go flattens into
// text (those of exec credential plugins, and some TLS and HTTP errors that
// cross a proxy CONNECT) are recognised by their message.
func Classify(err error) (reason, message string) {
	// Whatever carried the error, a URL's userinfo never reaches a
	// message, nor a connection's ephemeral local port.
	msg := localAddress.ReplaceAllString(inventory.Redact(err.Error()), "$1 ")
	if reason, prefix, ok := classifyType(err); ok {
		return reason, prefix + msg
	}
	reason, prefix := classifyMessage(msg)
	return reason, prefix + msg
}

// localAddress matches the local end of a connection in a net.OpError's
// text ("read tcp 127.0.0.1:51234->127.0.0.1:6443: ..."): its port is new
// for every connection, so a member that keeps failing the same way would
// otherwise get a new message, and its watchers a new event, every check.
var localAddress = regexp.MustCompile(`\b(tcp[46]?|udp[46]?) \S+->`)

// classifyType sorts err by the types in its chain.
func classifyType(err error) (reason, prefix string, ok bool) {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		exitErr     *exec.ExitError
		execErr     *exec.Error
		opErr       *net.OpError
		pluginErr   *PluginError
	)
	switch {
	case errors.As(err, &pluginErr):
		// Before the TLS cases: a plugin's client certificate is asked
		// for during the handshake, and its errors may quote a TLS one.
		return clusters.ReasonCredentialError, "getting a credential failed: ", true
	case errors.As(err, &recordErr) && bytes.HasPrefix(recordErr.RecordHeader[:], []byte("HTTP/")):
		// The member answered in plain HTTP: an answer, but not one a
		// Kubernetes API server gives over https.
		return clusters.ReasonBadGateway, "invalid response: the server answered in plain HTTP, not TLS: ", true
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return clusters.ReasonTLSError, "TLS handshake failed: ", true
	case errors.As(err, &exitErr), errors.As(err, &execErr):
		return clusters.ReasonCredentialError, "getting a credential failed: ", true
	case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded):
		return clusters.ReasonUnreachable, "", true
	}
	return "", "", false
}

// classifyMessage sorts an error that reached here as text alone.
func classifyMessage(msg string) (reason, prefix string) {
	switch {
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return clusters.ReasonTLSError, "TLS handshake failed: "
	case strings.Contains(msg, "getting credentials"), strings.Contains(msg, "exec plugin"), strings.Contains(msg, "exec: "):
		return clusters.ReasonCredentialError, "getting a credential failed: "
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "bad status"), strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return clusters.ReasonBadGateway, "invalid response: "
	}
	return clusters.ReasonUnreachable, ""
}

// Explain is Classify with the member's access described: a credential
// failure names what produced the credential (via).
func Explain(err error, via string) (reason, message string) {
	reason, message = Classify(err)
	if reason != clusters.ReasonCredentialError {
		return reason, message
	}
	if via != "" {
		message += "; credential from " + via
	}
	return reason, message
}
