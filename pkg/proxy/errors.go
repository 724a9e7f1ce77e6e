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

package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// statusError is the API error a client gets when cluster cannot be reached.
func statusError(cluster, via string, err error) *apierrors.StatusError {
	reason, message := member.Explain(err, via)
	message = fmt.Sprintf("cluster %q cannot be reached: %s", cluster, message)
	if reason == clusters.ReasonBadGateway {
		return badGateway(message)
	}
	return apierrors.NewServiceUnavailable(message)
}

// guardResponse replaces, with a Status, a member answer to a plain (not
// upgrade) request that refusedAnswer refuses, or that switches protocols
// unasked; every other response is returned as it is.
func guardResponse(cluster string, resp *http.Response) *http.Response {
	st := refusedAnswer(cluster, resp)
	if st == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		// http.Transport hands over the connection as the body of a 101
		// with Connection: Upgrade and an Upgrade header, asked for or
		// not, and ReverseProxy, which refuses one it did not ask for,
		// leaves that body open: the member would hold the connection
		// until the collector finalized it. Closing the body closes it.
		// (An HTTP/2 member's 101 is informational: see no101Writer.)
		st = badGateway(fmt.Sprintf("cluster %q switched protocols (101) on a request that asked for no upgrade", cluster))
	}
	if st == nil {
		return resp
	}
	_ = resp.Body.Close()
	return statusResponse(resp.Request, st)
}

// refusedAnswer returns the error to answer instead of a member response
// that a client would take as being about itself rather than the member,
// or nil. A 401 or 407 (with WWW-Authenticate or Proxy-Authenticate) would
// make kubectl and client-go believe that their hub credential is bad, and
// refresh or drop it; a redirect could take the client, with its hub
// credential, out of the proxy. Both become a 502 that names the member.
func refusedAnswer(cluster string, resp *http.Response) *apierrors.StatusError {
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusProxyAuthRequired:
		return badGateway(fmt.Sprintf("cluster %q refused the credential clusters-apiserver uses for it (%d %s): %s",
			cluster, code, http.StatusText(code), memberMessage(resp)))
	case code >= 300 && code < 400 && resp.Header.Get("Location") != "":
		return badGateway(fmt.Sprintf("cluster %q answered with a redirect (%d), which the proxy does not follow", cluster, code))
	}
	return nil
}

// badGateway is a 502 Status error.
func badGateway(message string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusBadGateway,
		Reason:  metav1.StatusReason(clusters.ReasonBadGateway),
		Message: message,
	}}
}

// memberMessage returns a short, printable account of a member's error
// answer: the message of a Status, or the start of any other body.
func memberMessage(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var st metav1.Status
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		msg = st.Message
	}
	msg = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 256 {
		msg = msg[:256] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// statusResponse is a JSON response holding the Status of err, as
// kube-apiserver writes it.
func statusResponse(req *http.Request, err *apierrors.StatusError) *http.Response {
	st := err.ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	body, _ := json.Marshal(st)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", st.Code, http.StatusText(int(st.Code))),
		StatusCode:    int(st.Code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
