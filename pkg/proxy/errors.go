package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/execwrap"
)

// Reasons for why a member cannot be reached, used both in proxy errors and
// in the Ready condition.
const (
	// ReasonUnreachable: the member's address does not answer.
	ReasonUnreachable = "Unreachable"
	// ReasonTLSError: the TLS handshake with the member failed.
	ReasonTLSError = "TLSError"
	// ReasonCredentialError: the member's credential could not be obtained
	// (for example, its exec plugin failed).
	ReasonCredentialError = "CredentialError"
	// ReasonBadGateway: the member answered with something that is not a
	// valid HTTP response.
	ReasonBadGateway = "BadGateway"
)

// Classify turns an error from reaching a member into a condition reason
// and a message for users. The message never holds a credential: it is
// built from network, TLS and HTTP errors, which carry none.
func Classify(err error) (reason, message string) {
	var (
		certErr     *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		opErr       *net.OpError
		alertErr    tls.AlertError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return ReasonTLSError, "TLS handshake failed: " + msg
	case strings.Contains(msg, "getting credentials"), strings.Contains(msg, "exec plugin"), strings.Contains(msg, "exec: "):
		return ReasonCredentialError, "getting a credential failed: " + msg
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "bad status"), strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return ReasonBadGateway, "invalid response: " + msg
	case errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "timeout"):
		return ReasonUnreachable, msg
	}
	return ReasonUnreachable, msg
}

// Explain is Classify with the member's access described: a credential
// failure names what produced the credential (via), and the exit codes of
// the plugin time limit wrapper are spelt out.
func Explain(err error, via string) (reason, message string) {
	reason, message = Classify(err)
	if reason != ReasonCredentialError {
		return reason, message
	}
	switch {
	case strings.Contains(message, fmt.Sprintf("exit code %d", execwrap.ExitTimeout)):
		message += " (the credential plugin did not finish within its time limit)"
	case strings.Contains(message, fmt.Sprintf("exit code %d", execwrap.ExitNotRun)):
		message += " (the credential plugin could not be run)"
	}
	if via != "" {
		message += "; credential from " + via
	}
	return reason, message
}

// statusError is the API error a client gets when cluster cannot be reached.
func statusError(cluster, via string, err error) *apierrors.StatusError {
	reason, message := Explain(err, via)
	message = fmt.Sprintf("cluster %q cannot be reached: %s", cluster, message)
	if reason == ReasonBadGateway {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusBadGateway,
			Reason:  metav1.StatusReason(ReasonBadGateway),
			Message: message,
		}}
	}
	return apierrors.NewServiceUnavailable(message)
}
