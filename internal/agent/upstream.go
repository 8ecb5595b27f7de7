package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// maxUpstreamBody bounds what the agent reads from the server.
const maxUpstreamBody = 1 << 20

// upstream is the client of the server's agent API. Enrollment goes without a client
// certificate; everything else presents the node's current one.
type upstream struct {
	base  string
	plain *http.Client // enroll only
	mtls  *http.Client
}

// newUpstream returns a client of base trusting roots; cert returns the client certificate to
// present (nil before enrollment).
func newUpstream(base string, roots *x509.CertPool, cert func() *tls.Certificate) *upstream {
	transport := func(get func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *http.Transport {
		return &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, GetClientCertificate: get},
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 0, // the events long poll holds the answer; contexts bound each call
		}
	}
	withCert := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := cert(); c != nil {
			return c, nil
		}
		return &tls.Certificate{}, nil
	}
	return &upstream{
		base:  base,
		plain: &http.Client{Transport: transport(nil), Timeout: 30 * time.Second},
		mtls:  &http.Client{Transport: transport(withCert)},
	}
}

// reconnect drops idle connections, so that the next calls present a renewed certificate.
func (u *upstream) reconnect() { u.mtls.CloseIdleConnections() }

// close closes the connections to the control plane that no request uses, as an agent that
// stops should: a server shutting down waits for its HTTP/2 clients to hang up (up to a second).
func (u *upstream) close() {
	u.plain.CloseIdleConnections()
	u.mtls.CloseIdleConnections()
}

// upstreamError is an error answer of the server.
type upstreamError struct {
	Status  int
	Code    string
	Message string
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("the control plane answered %d %s: %s", e.Status, e.Code, e.Message)
}

// unreachableError is a transport failure: the server did not answer.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string {
	return "the control plane is unreachable: " + e.err.Error()
}
func (e *unreachableError) Unwrap() error { return e.err }

// call sends in as JSON (nil: no body) and decodes a 2xx answer into out.
func (u *upstream) call(ctx context.Context, c *http.Client, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return &unreachableError{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return &unreachableError{err: err}
	}
	if resp.StatusCode/100 != 2 {
		ue := &upstreamError{Status: resp.StatusCode}
		var eb agentapi.ErrorBody
		if json.Unmarshal(raw, &eb) == nil {
			ue.Code, ue.Message = eb.Error.Code, eb.Error.Message
		}
		if ue.Message == "" {
			ue.Message = http.StatusText(resp.StatusCode)
		}
		return ue
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
	}
	return nil
}

func (u *upstream) enroll(ctx context.Context, req agentapi.EnrollRequest) (agentapi.EnrollResponse, error) {
	var out agentapi.EnrollResponse
	err := u.call(ctx, u.plain, http.MethodPost, agentapi.PathEnroll, req, &out)
	return out, err
}

func (u *upstream) renew(ctx context.Context, csr []byte) (agentapi.RenewResponse, error) {
	var out agentapi.RenewResponse
	err := u.call(ctx, u.mtls, http.MethodPost, agentapi.PathRenew, agentapi.RenewRequest{CSR: csr}, &out)
	return out, err
}

// events long-polls the events after Seq after; after < 0 is the first call.
func (u *upstream) events(ctx context.Context, after int64, wait time.Duration) (agentapi.EventsResponse, error) {
	q := url.Values{agentapi.QueryWait: {wait.String()}}
	if after >= 0 {
		q.Set(agentapi.QueryAfter, strconv.FormatInt(after, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, wait+20*time.Second)
	defer cancel()
	var out agentapi.EventsResponse
	err := u.call(ctx, u.mtls, http.MethodGet, agentapi.PathEvents+"?"+q.Encode(), nil, &out)
	return out, err
}

// sites asks the server for the front door's view of the agent's sites.
func (u *upstream) sites(ctx context.Context, req agentapi.SitesRequest) (agentapi.SitesResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out agentapi.SitesResponse
	err := u.call(ctx, u.mtls, http.MethodPost, agentapi.PathSites, req, &out)
	return out, err
}

// token asks the server to mint. Its errors are *errs.Error whose Code is the OAuth2 error code
// the identity endpoints answer with.
func (u *upstream) token(ctx context.Context, req agentapi.TokenRequest) (agentapi.TokenResponse, error) {
	var out agentapi.TokenResponse
	err := u.call(ctx, u.mtls, http.MethodPost, agentapi.PathToken, req, &out)
	if err == nil && (out.AccessToken == "" || out.ExpiresOn == 0 || out.ObjectID == "") {
		err = errors.New("the control plane's token answer lacks accessToken, expiresOn or objectId")
	}
	if err != nil {
		return out, mintError(err)
	}
	return out, nil
}

// mintError classifies an error of the token call for the identity endpoints.
func mintError(err error) error {
	var ue *upstreamError
	var unreachable *unreachableError
	switch {
	case errors.As(err, &unreachable):
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane is unreachable and no token for this identity and resource is cached; retry shortly"}
	case errors.Is(err, context.DeadlineExceeded):
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane did not answer in time and no token for this identity and resource is cached; retry shortly"}
	case !errors.As(err, &ue):
		return &errs.Error{Kind: errs.Internal, Err: err, Msg: "internal error"}
	}
	switch {
	case ue.Status == http.StatusBadRequest && ue.Code == agentapi.CodeIdentityNotFound:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Msg: "Identity not found", Err: err}
	case ue.Status == http.StatusBadRequest && ue.Code == agentapi.CodeInvalidResource:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_resource", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusBadRequest:
		return &errs.Error{Kind: errs.Invalid, Code: "invalid_request", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusForbidden:
		return &errs.Error{Kind: errs.Denied, Code: "access_denied", Msg: ue.Message, Err: err}
	case ue.Status == http.StatusUnauthorized:
		return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
			Msg: "the Lanyard control plane refused this node's certificate (was the node removed?); enroll the node again"}
	case ue.Status == http.StatusTooManyRequests:
		return &errs.Error{Kind: errs.TooMany, Code: "temporarily_unavailable", Err: err,
			Msg: "the Lanyard control plane is throttling this node; retry shortly"}
	}
	return &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable", Err: err,
		Msg: fmt.Sprintf("the Lanyard control plane could not mint a token (status %d); retry shortly", ue.Status)}
}
