package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client calls one Lanyard server.
type Client struct {
	BaseURL string       // "http://admin" for the admin socket, or the server's https URL
	HTTP    *http.Client // carries the transport (unix socket dialer, CA trust)
	// Tenant, if set, is sent as the X-Lanyard-Tenant header: the tenant a request on the admin
	// socket acts in (the default tenant otherwise).
	Tenant string
}

// TenantHeader names the tenant a request on the admin socket acts in.
const TenantHeader = "X-Lanyard-Tenant"

// AdminSocket returns a client that talks to the server's admin socket at path.
func AdminSocket(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{BaseURL: "http://admin", HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// SkipAuthorizationHeader, on a request to the admin socket, asks the server to answer it as it
// answers a caller with no credentials: `lanyard rest --skip-authorization-header`, as az rest
// sends no token with that flag. It can only take authority away.
const SkipAuthorizationHeader = "X-Lanyard-Skip-Authorization"

// Error is an error answer from the server.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("%s (%d %s)", msg, e.Status, e.Code)
	}
	return fmt.Sprintf("%s (%d)", msg, e.Status)
}

// Do sends a request with an optional JSON body and decodes a JSON answer into out (if non-nil).
// Error answers in any of Lanyard's error shapes become *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	raw, err := c.Raw(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Raw sends a request with an optional JSON body and returns the body of a 2xx answer.
func (c *Client) Raw(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body []byte
	var h http.Header
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = b
		h = http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.Send(ctx, method, path, h, body)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Response is a 2xx answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// MaxResponse bounds the body of an answer the client reads.
const MaxResponse = 64 << 20

// Send sends a request with the given headers and body (nil for none) to path, a path with an
// optional query relative to BaseURL, and returns a 2xx answer. Error answers in any of Lanyard's
// error shapes become *Error.
func (c *Client) Send(ctx context.Context, method, path string, header http.Header, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		if http.CanonicalHeaderKey(k) == "Host" { // net/http sends req.Host, not a Host header
			req.Host = vs[0]
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.Tenant != "" && req.Header.Get(TenantHeader) == "" {
		req.Header.Set(TenantHeader, c.Tenant)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, raw)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// decodeError reads the error shapes Lanyard's APIs use: {"error":{"code","message"}} (ARM, Graph,
// Key Vault, Lanyard's own) and {"error","error_description"} (OAuth2, IMDS).
func decodeError(status int, raw []byte) error {
	var nested struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(raw, &nested) == nil && (nested.Error.Message != "" || nested.Error.Code != "") {
		return &Error{Status: status, Code: nested.Error.Code, Message: nested.Error.Message}
	}
	var flat struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(raw, &flat) == nil && flat.Error != "" {
		return &Error{Status: status, Code: flat.Error, Message: flat.Description}
	}
	msg := string(raw)
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &Error{Status: status, Message: msg}
}

// Tenant is a directory.
type Tenant struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Default bool      `json:"default"`
	Created time.Time `json:"created"`
}

// CreateTenant creates a tenant.
func (c *Client) CreateTenant(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	err := c.Do(ctx, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": name}, &t)
	return t, err
}

// ListTenants lists the tenants.
func (c *Client) ListTenants(ctx context.Context) ([]Tenant, error) {
	var out struct{ Value []Tenant }
	err := c.Do(ctx, http.MethodGet, "/admin/v1/tenants", nil, &out)
	return out.Value, err
}

// SigningKey describes a token-signing key (never its private part).
type SigningKey struct {
	ID         string    `json:"kid"`
	Alg        string    `json:"alg"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	ActivateAt time.Time `json:"activateAt"`
	RetireAt   time.Time `json:"retireAt,omitzero"`
	DropAt     time.Time `json:"dropAt,omitzero"`
}

// SigningKeys lists the signing keys and their states.
func (c *Client) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	var out struct{ Value []SigningKey }
	err := c.Do(ctx, http.MethodGet, "/admin/v1/signing-keys", nil, &out)
	return out.Value, err
}

// RotateSigningKey schedules a new signing key (active after the pre-publication lead, or at once
// with immediate) and returns the keys afterwards.
func (c *Client) RotateSigningKey(ctx context.Context, immediate bool) ([]SigningKey, error) {
	var out struct{ Value []SigningKey }
	err := c.Do(ctx, http.MethodPost, "/admin/v1/signing-keys/rotate", map[string]bool{"immediate": immediate}, &out)
	return out.Value, err
}

// AuditEvent is one audit record.
type AuditEvent struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	Result    string    `json:"result"`
	RequestID string    `json:"requestId,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	PrevHash  string    `json:"prevHash"`
	Hash      string    `json:"hash"`
}

// ListAudit returns up to limit events after sequence number after.
func (c *Client) ListAudit(ctx context.Context, after int64, limit int) ([]AuditEvent, error) {
	var out struct{ Value []AuditEvent }
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(limit)}}
	err := c.Do(ctx, http.MethodGet, "/admin/v1/audit?"+q.Encode(), nil, &out)
	return out.Value, err
}

// AuditQuery selects audit events (GET /admin/v1/audit): see docs/reference.md. Zero fields are
// not sent; Limit 0 is the server's default (100).
type AuditQuery struct {
	After, Before                 int64
	Limit                         int
	Newest                        bool // newest first
	Actor, Action, Target, Result string
	From, To                      time.Time
}

// QueryAudit returns one page of the audit events that match q, filtered by the server.
func (c *Client) QueryAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Newest {
		v.Set("order", "desc")
	}
	for k, s := range map[string]string{"actor": q.Actor, "action": q.Action, "target": q.Target, "result": q.Result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	var out struct{ Value []AuditEvent }
	err := c.Do(ctx, http.MethodGet, "/admin/v1/audit?"+v.Encode(), nil, &out)
	return out.Value, err
}

// AuditVerification is the result of walking the audit chain and checking it against signed
// checkpoints.
type AuditVerification struct {
	Events      int  `json:"events"`
	Checkpoints int  `json:"checkpoints"` // how many checkpoints were checked
	OK          bool `json:"ok"`
	Problems    []struct {
		Seq    int64  `json:"seq"`
		Reason string `json:"reason"`
	} `json:"problems"`
}

// VerifyAudit walks the audit chain on the server and checks it against the stored checkpoints
// and kept (copies the operator holds; may be nil).
func (c *Client) VerifyAudit(ctx context.Context, kept ...AuditCheckpoint) (AuditVerification, error) {
	var out AuditVerification
	if len(kept) == 0 {
		err := c.Do(ctx, http.MethodGet, "/admin/v1/audit/verify", nil, &out)
		return out, err
	}
	err := c.Do(ctx, http.MethodPost, "/admin/v1/audit/verify", map[string]any{"checkpoints": kept}, &out)
	return out, err
}

// AuditCheckpoint is a signed checkpoint of the audit chain's head.
type AuditCheckpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	Time      time.Time `json:"time"`
	KeyID     string    `json:"keyId"`
	Signature []byte    `json:"signature"`
}

// AuditCheckpoints are the stored checkpoints (newest first) and the public keys that sign them.
type AuditCheckpoints struct {
	Keys []struct {
		KeyID     string `json:"keyId"`
		PublicKey []byte `json:"publicKey"`
	} `json:"keys"`
	Value []AuditCheckpoint `json:"value"`
}

// CheckpointAudit signs a checkpoint of the audit chain's head now.
func (c *Client) CheckpointAudit(ctx context.Context) (AuditCheckpoint, error) {
	var out AuditCheckpoint
	err := c.Do(ctx, http.MethodPost, "/admin/v1/audit/checkpoints", nil, &out)
	return out, err
}

// ListAuditCheckpoints returns up to limit stored checkpoints, newest first.
func (c *Client) ListAuditCheckpoints(ctx context.Context, limit int) (AuditCheckpoints, error) {
	var out AuditCheckpoints
	err := c.Do(ctx, http.MethodGet, "/admin/v1/audit/checkpoints?limit="+strconv.Itoa(limit), nil, &out)
	return out, err
}

// CAPEM returns the root CA certificate in PEM.
func (c *Client) CAPEM(ctx context.Context) ([]byte, error) {
	return c.Raw(ctx, http.MethodGet, "/admin/v1/ca", nil)
}
