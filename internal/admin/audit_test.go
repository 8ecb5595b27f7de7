package admin_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// TestListAuditFilters: GET /admin/v1/audit filters on the server, orders either way, and
// answers bad parameters with 400 and a message that names them.
func TestListAuditFilters(t *testing.T) {
	e := newEnv(t, true)
	rec := &audit.Recorder{Store: e.db, Log: slog.New(slog.DiscardHandler), Now: time.Now}
	ctx := context.Background()
	for i, ev := range []audit.Event{
		{Actor: "console:s1", Action: "vault.secret.get", Target: "/subscriptions/s/resourceGroups/rg/providers/v/kv", Result: audit.Success},
		{Actor: "console:s1", Action: "vault.secret.set", Target: "/subscriptions/s/resourceGroups/rg2/providers/v/kv", Result: audit.Denied},
		{Actor: "sp:1", Action: "vault.secrets", Target: "/subscriptions/s/resourceGroups/rg/x", Result: audit.Success},
		{Actor: "console:s1", Action: "resourcegroup.write", Target: "/subscriptions/s/resourceGroups/rg", Result: audit.Success},
	} {
		ev.Detail = string(rune('a' + i))
		if _, err := rec.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string) (int, []audit.Event, string) {
		t.Helper()
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/admin/v1/audit?"+query, nil))
		var out struct {
			Value []audit.Event `json:"value"`
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return w.Code, out.Value, w.Body.String()
	}
	details := func(evs []audit.Event) string {
		var b strings.Builder
		for _, e := range evs {
			b.WriteString(e.Detail)
		}
		return b.String()
	}
	for query, want := range map[string]string{
		"actor=console:s1&action=vault.secret": "ab",
		"action=vault.secret&order=desc":       "ba",
		"action=vault":                         "abc",
		"target=" + url.QueryEscape("/subscriptions/s/resourceGroups/rg/"): "ac",
		"target=" + url.QueryEscape("/subscriptions/s/resourceGroups/rg"):  "abcd",
		"result=denied":                            "b",
		"actor=console:s1&order=desc&limit=2":      "db",
		"actor=console:s1&order=desc&before=4":     "ba",
		"actor=sp:1&from=2000-01-01T00:00:00Z":     "c",
		"actor=sp:1&to=2000-01-01T00:00:00Z":       "",
		"action=vault&after=1&before=3&order=desc": "b",
	} {
		code, evs, body := list(query)
		if code != http.StatusOK || details(evs) != want {
			t.Errorf("%s: %d %q, want %q (%s)", query, code, details(evs), want, body)
		}
	}
	for query, msg := range map[string]string{
		"order=sideways":                      "order must be asc or desc",
		"result=maybe":                        "result must be success, denied or failure",
		"from=yesterday":                      "from must be an RFC 3339 time",
		"actor=a%00b":                         "actor must be text",
		"limit=0":                             "limit must be a whole number from 1 to 1000",
		"before=-1":                           "before must be a whole number",
		"target=" + strings.Repeat("x", 1025): "target must be text of at most 1024 bytes",
	} {
		code, _, body := list(query)
		if code != http.StatusBadRequest || !strings.Contains(body, msg) {
			t.Errorf("%s: %d %s, want 400 with %q", query, code, body, msg)
		}
	}
}
