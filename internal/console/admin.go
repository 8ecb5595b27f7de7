package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

func (c *Console) adminRoutes(h func(string, pageFunc)) {
	h("GET /console/nodes", c.nodes)
	h("POST /console/nodes/join-tokens", c.joinToken)
	h("GET /console/ca.pem", c.caPEM)
	h("GET /console/audit", c.audit)
	h("POST /console/audit/verify", c.verifyAudit)
}

func (c *Console) nodes(w http.ResponseWriter, r *http.Request, s *current) error {
	list, err := c.api(s).ListNodes(r.Context())
	if err != nil {
		return err
	}
	return c.render(w, r, "nodes.html", &page{Title: "Nodes", Nav: "nodes", Data: map[string]any{"Nodes": list, "Now": c.Now()}})
}

// joinToken makes a node's join token and shows it once, with the exact commands that enroll
// the node. The token is in this one answer only (no-store), never in a URL.
func (c *Console) joinToken(w http.ResponseWriter, r *http.Request, s *current) error {
	name, ttl := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("ttl")
	if err := checkName("node name", name); err != nil {
		return err
	}
	api := c.api(s)
	jt, err := api.CreateJoinToken(r.Context(), name, ttl)
	if err != nil {
		return err
	}
	list, err := api.ListNodes(r.Context())
	if err != nil {
		return err
	}
	file := name + ".token"
	cmd := "umask 077; printf '%s\\n' " + shellQuote(jt.Token) + " > " + shellQuote(file) + "\n" +
		"lanyard agent --server " + shellQuote(strings.TrimRight(c.PublicURL, "/")) + " --ca-file ca.pem --join-token-file " + shellQuote(file)
	return c.render(w, r, "nodes.html", &page{Title: "Nodes", Nav: "nodes", Data: map[string]any{"Nodes": list, "Now": c.Now(),
		"Token": jt, "Command": cmd}})
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (c *Console) caPEM(w http.ResponseWriter, r *http.Request, s *current) error {
	resp, err := c.api(s).Send(r.Context(), http.MethodGet, "/admin/v1/ca", nil, nil)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="ca.pem"`)
	_, err = w.Write(resp.Body)
	return err
}

// auditFilter is what the audit page filters by: the admin API's filters (GET /admin/v1/audit),
// applied by the server.
type auditFilter struct {
	Actor, Action, Target, Result string
	From, To                      time.Time
	FromS, ToS                    string
}

// query adds f's filters to v, as the admin API reads them.
func (f auditFilter) query(v url.Values) {
	for k, s := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "result": f.Result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !f.From.IsZero() {
		v.Set("from", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.Format(time.RFC3339))
	}
}

func parseTimeParam(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errs.E(errs.Invalid, "%q is not a time such as 2026-12-05T10:00", v)
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	q := r.URL.Query()
	f := auditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target")),
		Result: q.Get("result"), FromS: q.Get("from"), ToS: q.Get("to")}
	var err error
	if f.From, err = parseTimeParam(f.FromS); err != nil {
		return err
	}
	if f.To, err = parseTimeParam(f.ToS); err != nil {
		return err
	}
	verify, err := c.chainStatus(r.Context(), api, false)
	if err != nil {
		return err
	}
	// Newest first: one page of the matches before `before` (the end of the log when not
	// given), filtered by the admin API.
	v := url.Values{"order": {"desc"}, "limit": {strconv.Itoa(pageSize)}}
	f.query(v)
	if before, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	var out struct {
		Value []audit.Event `json:"value"`
	}
	if err := api.Do(r.Context(), http.MethodGet, "/admin/v1/audit?"+v.Encode(), nil, &out); err != nil {
		return err
	}
	rows := out.Value
	data := map[string]any{"Rows": rows, "F": f, "Verify": verify}
	if len(rows) == pageSize && rows[len(rows)-1].Seq > 1 {
		data["Older"] = strconv.FormatInt(rows[len(rows)-1].Seq, 10) // continue below the oldest shown
	}
	return c.render(w, r, "audit.html", &page{Title: "Audit log", Nav: "audit", Data: data})
}

// verification is the audit chain's state as the admin API last verified it.
type verification struct {
	Events   int64           `json:"events"`
	OK       bool            `json:"ok"`
	Problems []audit.Problem `json:"problems"`
	At       time.Time       `json:"-"`
}

// verifyMaxAge is how long the audit page shows a verification before it verifies again (the
// check reads the whole chain; "Verify now" does it at once).
const verifyMaxAge = 5 * time.Minute

// chainStatus returns the last verification of the audit chain, verifying again when it is older
// than verifyMaxAge or now is set.
func (c *Console) chainStatus(ctx context.Context, api *client.Client, now bool) (verification, error) {
	c.verifyMu.Lock()
	defer c.verifyMu.Unlock()
	if !now && c.verified != nil && c.Now().Sub(c.verified.At) < verifyMaxAge {
		return *c.verified, nil
	}
	var v verification
	if err := api.Do(ctx, http.MethodGet, "/admin/v1/audit/verify", nil, &v); err != nil {
		return v, err
	}
	v.At = c.Now()
	c.verified = &v
	return v, nil
}

func (c *Console) verifyAudit(w http.ResponseWriter, r *http.Request, s *current) error {
	if _, err := c.chainStatus(r.Context(), c.api(s), true); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"audit", "")
}
