package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Invocations: the custom-handler protocol's default mode (functions.md §3.2, §3.3), its
// forwarding mode (§3.4), and the log lines and metrics around each (§11).

// reasonHTTP is the reason Azure logs for HTTP calls (§11).
const reasonHTTP = "This function was programmatically called via the host APIs."

// newID is a random (version 4) UUID for invocation ids and sys.RandGuid: ids, not secrets, so
// from math/rand/v2's runtime-seeded ChaCha8 (no system call per invocation).
func newID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], mrand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// handlerResponse is a worker's answer (§3.3) with Lanyard's LogEntries (doc.go).
type handlerResponse struct {
	Outputs     map[string]json.RawMessage `json:"Outputs"`
	Logs        []json.RawMessage          `json:"Logs"`
	ReturnValue json.RawMessage            `json:"ReturnValue"`
	LogEntries  []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	} `json:"LogEntries"`
}

// invocation is one run of a function.
type invocation struct {
	fn       *function
	id       string
	reason   string
	data     map[string]any
	metadata map[string]any
}

// funcError is an invocation failure; its message goes to the function log.
type funcError struct{ msg string }

func (e *funcError) Error() string { return e.msg }

func failf(format string, args ...any) error { return &funcError{fmt.Sprintf(format, args...)} }

// begin logs the start line and returns the function that logs the end line and counts it.
func (h *Host) begin(inv *invocation) func(err error) {
	start := time.Now()
	h.flog.write(levelInformation, fmt.Sprintf("Executing 'Functions.%s' (Reason='%s', Id=%s)", inv.fn.Name, inv.reason, inv.id))
	return func(err error) {
		d := time.Since(start)
		ms := d.Milliseconds()
		m := inv.fn.met
		if err != nil {
			h.flog.write(levelError, fmt.Sprintf("Exception while executing function: Functions.%s. Result: Failure\nException: %s", inv.fn.Name, err.Error()))
			h.flog.write(levelError, fmt.Sprintf("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", inv.fn.Name, inv.id, ms))
			m.observe(false, d)
			return
		}
		h.flog.write(levelInformation, fmt.Sprintf("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", inv.fn.Name, inv.id, ms))
		m.observe(true, d)
	}
}

// readSecrets adds the keyVault inputs to the invocation's data, read now (§8, Lanyard's own).
func (h *Host) readSecrets(ctx context.Context, inv *invocation) error {
	for _, s := range inv.fn.secrets {
		if h.cfg.Secrets == nil {
			return failf("keyVault binding '%s': this host has no secret reader (the app has no managed identity here)", s.name)
		}
		v, err := h.cfg.Secrets.ReadSecret(ctx, s.ref)
		if err != nil {
			return failf("keyVault binding '%s': secret '%s' in vault '%s' could not be read: %v", s.name, s.ref.Name, s.ref.Vault, err)
		}
		inv.data[s.name] = v
	}
	return nil
}

// call sends an invocation to the worker in the default mode and returns its answer.
func (h *Host) call(ctx context.Context, inv *invocation) (*handlerResponse, error) {
	if err := h.readSecrets(ctx, inv); err != nil {
		return nil, err
	}
	sys := map[string]any{"MethodName": inv.fn.Name, "UtcNow": h.now().UTC().Format(time.RFC3339Nano), "RandGuid": newID()}
	if inv.metadata == nil {
		inv.metadata = map[string]any{}
	}
	inv.metadata["sys"] = sys
	body := append(make([]byte, 0, 1024), `{"Data":`...)
	body, err := appendJSON(body, inv.data)
	if err == nil {
		body = append(body, `,"Metadata":`...)
		body, err = appendJSON(body, inv.metadata)
	}
	if err != nil {
		return nil, err
	}
	body = append(body, '}')
	status, raw, err := h.worker.invoke(ctx, inv.fn.Name, inv.id, body)
	if err != nil {
		return nil, h.explain(ctx, inv, err)
	}
	if status < 200 || status > 299 {
		// The Node worker explains its failures: {"error","stack","LogEntries"} (doc.go).
		var fail struct {
			handlerResponse
			Error string `json:"error"`
			Stack string `json:"stack"`
		}
		if json.Unmarshal(raw, &fail) == nil && fail.Error != "" {
			h.workerLogs(&fail.handlerResponse)
			msg := fail.Error
			if fail.Stack != "" {
				msg += "\nStack: " + fail.Stack
			}
			return nil, failf("%s", msg)
		}
		return nil, failf("Response status code does not indicate success: %d (%s).", status, http.StatusText(status))
	}
	var out handlerResponse
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, failf("the custom handler's answer is not JSON: %s", sanitize(raw))
		}
	}
	h.workerLogs(&out)
	return &out, nil
}

// explain turns a transport error into the invocation's failure.
func (h *Host) explain(ctx context.Context, inv *invocation, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && h.hc.timeout > 0 {
		return failf("Timeout value of %s was exceeded by function: Functions.%s", formatSpan(h.hc.timeout), inv.fn.Name)
	}
	return failf("the invocation failed: %v", err)
}

func formatSpan(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// sanitize shows at most 200 printable bytes of a bad answer (§3.3).
func sanitize(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
}

// workerLogs writes the function's own log lines: LogEntries (Lanyard's, with levels) when
// present, else Logs at Information (§3.3).
func (h *Host) workerLogs(out *handlerResponse) {
	if len(out.LogEntries) > 0 {
		for _, e := range out.LogEntries {
			h.flog.write(levelOf(e.Level), e.Message)
		}
		return
	}
	for _, l := range out.Logs {
		var s string
		if json.Unmarshal(l, &s) != nil {
			s = string(l)
		}
		h.flog.write(levelInformation, s)
	}
}

func setWorkerHeaders(hd http.Header, id string) {
	hd.Set("X-Azure-Functions-InvocationId", id)
	hd.Set("X-Azure-Functions-HostVersion", hostVersion)
	hd.Set("User-Agent", "Azure-Functions-Host/"+hostVersion)
}

// ServeHTTP serves the HTTP triggers (under the route prefix) and POST /admin/functions/{name};
// anything else is 404.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := strings.CutPrefix(r.URL.Path, "/admin/functions/"); ok && r.Method == http.MethodPost && !strings.Contains(name, "/") {
		h.adminInvoke(w, r, name)
		return
	}
	fn, params, ok := h.route(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	level := ""
	if h.cfg.Keys != nil {
		if key := requestKey(r); key != "" {
			level = h.cfg.Keys.Level(fn.Name, key)
		}
		pass := false
		switch fn.AuthLevel {
		case "anonymous":
			pass = true
		case "function":
			pass = level == "admin" || level == "function"
		case "admin":
			pass = level == "admin"
		}
		if !pass && !fn.Disabled {
			w.WriteHeader(http.StatusUnauthorized) // an empty body (§2.2)
			return
		}
	}
	if fn.Disabled && level != "admin" { // 404 unless the master key (§1.2)
		http.NotFound(w, r)
		return
	}
	if !h.enter() {
		http.Error(w, "", http.StatusServiceUnavailable)
		return
	}
	defer h.inflight.Done()
	if r.ContentLength > h.bodyLimit {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.bodyLimit+1))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.bodyLimit {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	ctx := r.Context()
	if h.hc.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.hc.timeout)
		defer cancel()
	}
	inv := &invocation{fn: fn, id: newID(), reason: reasonHTTP}
	end := h.begin(inv)
	if h.hc.handler != nil && h.hc.handler.forward && fn.forwardable {
		end(h.forward(ctx, w, r, inv, body))
		return
	}
	inv.data, inv.metadata = h.httpData(r, fn, params, body)
	out, err := h.call(ctx, inv)
	if err == nil {
		err = writeHTTPOutput(w, fn, out)
	}
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError) // an empty body (§2.5)
	}
	end(err)
}

// route finds the function for r: the prefix, then the routes in precedence order, with methods
// as constraints (§2.1).
func (h *Host) route(r *http.Request) (*function, map[string]*string, bool) {
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	if h.hc.routePrefix != "" {
		p := h.hc.routePrefix
		if len(path) < len(p) || !strings.EqualFold(path[:len(p)], p) || len(path) > len(p) && path[len(p)] != '/' {
			return nil, nil, false
		}
		path = strings.TrimPrefix(path[len(p):], "/")
	}
	for _, fn := range h.http {
		if fn.methods != nil && !fn.methods[r.Method] {
			continue
		}
		if params, ok := fn.route.match(path); ok {
			return fn, params, true
		}
	}
	return nil, nil, false
}

// httpData builds the HTTP trigger's input and metadata (§3.2).
func (h *Host) httpData(r *http.Request, fn *function, params map[string]*string, body []byte) (map[string]any, map[string]any) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p == "https" {
		scheme = p
	}
	u := scheme + "://" + r.Host + r.URL.RequestURI()
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	headers := make(map[string][]string, len(r.Header))
	flat := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		headers[k] = v
		flat[k] = strings.Join(v, ",")
	}
	if r.Host != "" {
		headers["Host"] = []string{r.Host}
		flat["Host"] = r.Host
	}
	p := make(map[string]any, len(params))
	for k, v := range params {
		if v == nil {
			p[k] = nil
		} else {
			p[k] = *v
		}
	}
	req := map[string]any{"Url": u, "Method": r.Method, "Query": query, "Headers": headers, "Params": p, "Identities": identities(r)}
	// Body is absent when there is no content (§3.2). Azure also drops a chunked body (no
	// Content-Length); Lanyard passes it (its own choice: the body was read anyway).
	if len(body) > 0 {
		if isBinary(r.Header.Get("Content-Type")) {
			req["Body"] = base64.StdEncoding.EncodeToString(body)
		} else {
			req["Body"] = string(body)
		}
	}
	meta := map[string]any{"Query": query, "Headers": flat}
	for k, v := range p {
		meta[k] = v
	}
	return map[string]any{fn.triggerName: req}, meta
}

func isBinary(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "multipart/")
}

// identities is the caller's identity from Easy Auth's X-MS-CLIENT-PRINCIPAL (the front door
// sets it and strips clients' copies), shaped like a serialized ClaimsIdentity (the exact .NET
// fields are unknown, §12.3).
func identities(r *http.Request) []any {
	p := r.Header.Get("X-MS-CLIENT-PRINCIPAL")
	if p == "" {
		return []any{}
	}
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return []any{}
	}
	var cp struct {
		AuthType string `json:"auth_typ"`
		NameType string `json:"name_typ"`
		RoleType string `json:"role_typ"`
		Claims   []struct {
			Typ string `json:"typ"`
			Val string `json:"val"`
		} `json:"claims"`
	}
	if json.Unmarshal(raw, &cp) != nil {
		return []any{}
	}
	claims := make([]any, 0, len(cp.Claims))
	for _, c := range cp.Claims {
		claims = append(claims, map[string]any{"Type": c.Typ, "Value": c.Val})
	}
	return []any{map[string]any{"AuthenticationType": cp.AuthType, "IsAuthenticated": true,
		"Name": r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME"), "NameClaimType": cp.NameType, "RoleClaimType": cp.RoleType, "Claims": claims}}
}

// writeHTTPOutput answers the HTTP call from the function's HTTP output (§2.5, §3.3).
func writeHTTPOutput(w http.ResponseWriter, fn *function, out *handlerResponse) error {
	var raw json.RawMessage
	switch fn.httpOut {
	case "$return", "":
		raw = out.ReturnValue
	default:
		raw = out.Outputs[fn.httpOut]
		if raw == nil { // case-insensitive names, as .NET's binder reads them
			for k, v := range out.Outputs {
				if strings.EqualFold(k, fn.httpOut) {
					raw = v
				}
			}
		}
	}
	status, header, body, err := httpResponse(raw)
	if err != nil {
		return err
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// httpResponse reads a response object (§2.5): status and headers only when a body key is
// present; otherwise the whole value is the body with 200; nothing is 204.
func httpResponse(raw json.RawMessage) (int, http.Header, []byte, error) {
	header := http.Header{}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return http.StatusNoContent, header, nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return 0, nil, nil, failf("Failed while trying to Deserialize to httpOutputBindingResponse: %v", err)
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		if s, ok := v.(string); ok {
			header.Set("Content-Type", "text/plain; charset=utf-8")
			return http.StatusOK, header, []byte(s), nil
		}
		header.Set("Content-Type", "application/json; charset=utf-8")
		return http.StatusOK, header, t, nil
	}
	get := func(k string) (any, bool) {
		for key, val := range obj {
			if strings.EqualFold(key, k) {
				return val, true
			}
		}
		return nil, false
	}
	b, hasBody := get("body")
	if !hasBody {
		header.Set("Content-Type", "application/json; charset=utf-8")
		return http.StatusOK, header, t, nil
	}
	status := http.StatusOK
	sv, ok := get("statusCode")
	if !ok || sv == nil {
		sv, ok = get("status")
	}
	if ok && sv != nil {
		var s string
		switch x := sv.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = strings.TrimSpace(x)
		default:
			return 0, nil, nil, failf("Failed while trying to Deserialize to httpOutputBindingResponse: statusCode %v is not a number", sv)
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 999 {
			return 0, nil, nil, failf("Failed while trying to Deserialize to httpOutputBindingResponse: statusCode '%s' is not a status", s)
		}
		status = n
	}
	if hv, ok := get("headers"); ok && hv != nil {
		hm, ok := hv.(map[string]any)
		if !ok {
			return 0, nil, nil, failf("Failed while trying to Deserialize to httpOutputBindingResponse: headers must be an object")
		}
		for k, x := range hm {
			if k == "" || strings.ContainsAny(k, " \r\n:") {
				continue
			}
			switch y := x.(type) {
			case []any:
				for _, e := range y {
					header.Add(k, headerValue(e))
				}
			default:
				header.Add(k, headerValue(y))
			}
		}
	}
	var body []byte
	b64, _ := get("isBase64")
	switch x := b.(type) {
	case nil:
	case string:
		body = []byte(x)
		if b64 == true { // Lanyard's Node worker's flag for bytes that are not UTF-8 text (doc.go)
			d, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return 0, nil, nil, failf("Failed while trying to Deserialize to httpOutputBindingResponse: isBase64 with a body that is not base64")
			}
			body = d
			if header.Get("Content-Type") == "" {
				header.Set("Content-Type", "application/octet-stream")
			}
		}
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	default:
		body, _ = json.Marshal(x)
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json; charset=utf-8")
		}
	}
	return status, header, body, nil
}

func headerValue(v any) string {
	var s string
	switch y := v.(type) {
	case string:
		s = y
	case json.Number:
		s = y.String()
	case nil:
		s = ""
	default:
		b, _ := json.Marshal(y)
		s = string(b)
	}
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// hopHeaders are not forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends the request unchanged to the worker and relays its answer (§3.4).
func (h *Host) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, inv *invocation, body []byte) error {
	var rb io.Reader
	if len(body) > 0 {
		rb = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL.RequestURI(), rb)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return err
	}
	req.URL.Path, req.URL.RawPath = r.URL.Path, r.URL.RawPath
	for k, v := range r.Header {
		req.Header[k] = v
	}
	for _, k := range hopHeaders {
		req.Header.Del(k)
	}
	setWorkerHeaders(req.Header, inv.id)
	resp, err := h.worker.do(req)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return h.explain(ctx, inv, err)
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		return failf("relaying the custom handler's answer: %v", err)
	}
	return nil
}

// adminInvoke is POST /admin/functions/{name} {"input":"..."} (functions.md §2.3, Azure's): the
// master key runs a non-HTTP function now, answering 202 at once. Without Config.Keys (func
// start) no key is needed, as authLevel is not enforced either.
func (h *Host) adminInvoke(w http.ResponseWriter, r *http.Request, name string) {
	if h.cfg.Keys != nil {
		if key := requestKey(r); key == "" || h.cfg.Keys.Level("", key) != "admin" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var fn *function
	for _, f := range h.others {
		if strings.EqualFold(f.Name, name) {
			fn = f
		}
	}
	if fn == nil {
		http.NotFound(w, r)
		return
	}
	// Azure's body is {"input": "…"}; a timer, the only kind run here, takes no input.
	w.WriteHeader(http.StatusAccepted)
	now := h.now()
	go h.tick(h.runCtx, fn, now, time.Time{}, now, false, reasonHTTP)
}

// requestKey is the function key a request carries: the x-functions-key header, which wins
// (its first value), else the code query parameter (Azure's, §2.2).
func requestKey(r *http.Request) string {
	if key := r.Header.Get("X-Functions-Key"); key != "" {
		return key
	}
	return r.URL.Query().Get("code")
}
