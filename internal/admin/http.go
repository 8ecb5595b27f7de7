package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	ID         string    `json:"kid"`
	Alg        string    `json:"alg"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	ActivateAt time.Time `json:"activateAt"`
	RetireAt   time.Time `json:"retireAt,omitzero"`
	DropAt     time.Time `json:"dropAt,omitzero"`
}

// Keys is the token service as the admin API needs it.
type Keys interface {
	KeyInfos(ctx context.Context) ([]KeyInfo, error)
	Rotate(ctx context.Context, immediate bool) error
}

// AuditStore is the audit chain as the admin API reads it: whole (verify) and by a query (list).
type AuditStore interface {
	audit.Store
	audit.QueryStore
}

// API is the administrator's API.
type API struct {
	Keys   Keys
	Audit  AuditStore
	Record *audit.Recorder
	CAPEM  func() []byte
	// Tokens mints tokens for POST /admin/v1/tokens; nil answers 503 until a directory is wired.
	Tokens Minter
	// DefaultTenant returns the id of the tenant a mint request without tenantId is for.
	DefaultTenant func() string
	// Checkpoints signs audit checkpoints on demand; CheckpointStore lists them and their keys.
	Checkpoints     *audit.Checkpointer
	CheckpointStore audit.CheckpointStore
	// Segments lists what retention exported; nil: 503.
	Segments audit.RetentionStore
}

// Routes mounts the API's routes.
func (a *API) Routes(mux *http.ServeMux) {
	h := func(pattern string, fn httpx.Handler) {
		mux.Handle(pattern, httpx.With(httpx.Plain, func(w http.ResponseWriter, r *http.Request) error {
			if err := authn.RequireAdmin(r.Context()); err != nil {
				return err
			}
			return fn(w, r)
		}))
	}
	h("GET /admin/v1/signing-keys", a.listKeys)
	h("POST /admin/v1/signing-keys/rotate", a.rotate)
	h("GET /admin/v1/audit", a.listAudit)
	h("GET /admin/v1/audit/verify", a.verifyAudit)
	h("POST /admin/v1/audit/verify", a.verifyAudit)
	h("GET /admin/v1/audit/checkpoints", a.listCheckpoints)
	h("POST /admin/v1/audit/checkpoints", a.checkpoint)
	h("GET /admin/v1/audit/segments", a.listSegments)
	h("POST /admin/v1/tokens", a.mintToken)
	h("GET /admin/v1/ca", func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, err := w.Write(a.CAPEM())
		return err
	})
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := a.Keys.KeyInfos(r.Context())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": keys})
	return nil
}

func (a *API) rotate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Immediate bool `json:"immediate"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return err
		}
	}
	p, _ := authn.From(r.Context())
	ev := audit.Event{Actor: p.Actor, Action: "signing-key.rotate", Target: "signing-keys", RequestID: httpx.RequestID(r.Context()),
		Detail: "immediate=" + strconv.FormatBool(in.Immediate)}
	rerr := a.Keys.Rotate(r.Context(), in.Immediate)
	ev.Result = audit.Success
	if rerr != nil {
		ev.Result = audit.Failure
	}
	if _, err := a.Record.Record(r.Context(), ev); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	return a.listKeys(w, r)
}

// listAudit answers GET /admin/v1/audit: events by seq, filtered on the server (Lanyard's own
// API; docs/reference.md lists the parameters):
//
//	after, before   seq bounds (exclusive); limit 1-1000 (100); order asc (default) or desc
//	actor           exactly
//	action          the action or those under it ("vault.secret" matches "vault.secret.get")
//	target          every target starting with it
//	result          success, denied or failure
//	from, to        RFC 3339 times: from <= time < to
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	evs, err := a.Audit.QueryAudit(r.Context(), q)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []audit.Event{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": evs})
	return nil
}

// verifyAudit walks the chain and checks it against the stored checkpoints and, on POST, the
// checkpoints the operator kept ({"checkpoints": [...]}: copies the database cannot change).
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Checkpoints []audit.Checkpoint `json:"checkpoints"`
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return err
		}
		if len(in.Checkpoints) > maxCheckpoints {
			return errs.E(errs.Invalid, "at most %d checkpoints at once, not %d", maxCheckpoints, len(in.Checkpoints))
		}
		for _, c := range in.Checkpoints {
			if err := audit.ValidateCheckpoint(c); err != nil {
				return err
			}
		}
	}
	n, last, problems, err := audit.VerifyChain(r.Context(), a.Audit)
	if err != nil {
		return err
	}
	checked := 0
	if a.CheckpointStore != nil {
		stored, err := a.CheckpointStore.ListAuditCheckpoints(r.Context(), maxCheckpoints)
		if err != nil {
			return err
		}
		keys, err := a.CheckpointStore.AuditCheckpointKeys(r.Context())
		if err != nil {
			return err
		}
		cps := append(in.Checkpoints, stored...)
		more, err := audit.VerifyCheckpoints(r.Context(), a.Audit, last, cps, keys)
		if err != nil {
			return err
		}
		problems = append(problems, more...)
		checked = len(cps)
	}
	if problems == nil {
		problems = []audit.Problem{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"events": n, "checkpoints": checked, "ok": len(problems) == 0, "problems": problems})
	return nil
}

// maxCheckpoints bounds the checkpoints one verify reads or takes.
const maxCheckpoints = 10_000

func (a *API) listCheckpoints(w http.ResponseWriter, r *http.Request) error {
	if a.CheckpointStore == nil {
		return errs.E(errs.Unavailable, "audit checkpoints are not configured")
	}
	limit, err := intParam(r, "limit", 100, 1, maxCheckpoints)
	if err != nil {
		return err
	}
	cps, err := a.CheckpointStore.ListAuditCheckpoints(r.Context(), int(limit))
	if err != nil {
		return err
	}
	keys, err := a.CheckpointStore.AuditCheckpointKeys(r.Context())
	if err != nil {
		return err
	}
	if cps == nil {
		cps = []audit.Checkpoint{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": keys, "value": cps})
	return nil
}

func (a *API) listSegments(w http.ResponseWriter, r *http.Request) error {
	if a.Segments == nil {
		return errs.E(errs.Unavailable, "audit retention is not configured")
	}
	segs, err := a.Segments.ListAuditSegments(r.Context())
	if err != nil {
		return err
	}
	seq, hash, err := a.Segments.AuditBase(r.Context())
	if err != nil {
		return err
	}
	if segs == nil {
		segs = []audit.Segment{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"base": map[string]any{"seq": seq, "hash": hash}, "value": segs})
	return nil
}

func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) error {
	if a.Checkpoints == nil {
		return errs.E(errs.Unavailable, "audit checkpoints are not configured")
	}
	cp, err := a.Checkpoints.Checkpoint(r.Context())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, cp)
	return nil
}

// maxAuditFilter bounds the length of a filter's value.
const maxAuditFilter = 1024

// auditQuery reads the parameters of GET /admin/v1/audit.
func auditQuery(r *http.Request) (audit.Query, error) {
	var q audit.Query
	after, err := intParam(r, "after", 0, 0, 1<<62)
	if err != nil {
		return q, err
	}
	before, err := intParam(r, "before", 0, 0, 1<<62)
	if err != nil {
		return q, err
	}
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return q, err
	}
	v := r.URL.Query()
	q = audit.Query{After: after, Before: before, Limit: int(limit),
		Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target"), Result: v.Get("result")}
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.Newest = true
	default:
		return q, errs.E(errs.Invalid, "order must be asc or desc")
	}
	for name, val := range map[string]string{"actor": q.Actor, "action": q.Action, "target": q.Target} {
		if len(val) > maxAuditFilter || !utf8.ValidString(val) || strings.ContainsFunc(val, unicode.IsControl) {
			return q, errs.E(errs.Invalid, "%s must be text of at most %d bytes without control characters", name, maxAuditFilter)
		}
	}
	switch q.Result {
	case "", audit.Success, audit.Denied, audit.Failure:
	default:
		return q, errs.E(errs.Invalid, "result must be %s, %s or %s", audit.Success, audit.Denied, audit.Failure)
	}
	for name, t := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if s := v.Get(name); s != "" {
			if *t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return q, errs.E(errs.Invalid, "%s must be an RFC 3339 time such as 2026-12-05T10:00:00Z", name)
			}
		}
	}
	return q, nil
}

func intParam(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, errs.E(errs.Invalid, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return v, nil
}
