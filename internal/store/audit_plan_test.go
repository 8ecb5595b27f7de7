package store

import (
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// TestAuditQueryPlans: each audit filter reads a range of its audit_keys index in seq order
// (migration 0017) and joins audit_events by primary key; the unfolded tail is a range of
// audit_events' primary key; no table is scanned.
func TestAuditQueryPlans(t *testing.T) {
	db := planDB(t)
	plan := func(query string, args ...any) string { return queryPlan(t, db, query, args...) }
	to := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q     audit.Query
		index string // how the folded part reads audit_keys
	}{
		{audit.Query{Actor: "console:a"}, "INDEX audit_keys_actor (actor=? AND seq<?)"},
		{audit.Query{Actor: "console:a", Action: "vault", Result: audit.Denied}, "INDEX audit_keys_actor (actor=? AND seq<?)"},
		{audit.Query{Action: "vault.secret"}, "INDEX audit_keys_action (action>? AND action<?)"},
		{audit.Query{Target: "/subscriptions/s/"}, "INDEX audit_keys_target (target>? AND target<?)"},
		{audit.Query{To: to}, "INDEX audit_keys_time (time<?)"},
		{audit.Query{From: to.Add(-time.Hour), To: to}, "INDEX audit_keys_time (time>? AND time<?)"},
		// A window open at the end finds its newest events at once in seq order.
		{audit.Query{From: to}, "INTEGER PRIMARY KEY (rowid<?)"},
	} {
		for _, newest := range []bool{false, true} {
			q := tc.q
			q.Newest, q.Limit = newest, 10
			aq, err := db.auditQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			args := append(aq.args, 100, 10)
			folded := plan(aq.folded, args...)
			if !strings.Contains(folded, "SEARCH k USING ") || !strings.Contains(folded, tc.index) ||
				!strings.Contains(folded, "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)") || strings.Contains(folded, "SCAN") {
				t.Errorf("%+v: the folded part does not read %s and join audit_events by seq:\n%s", q, tc.index, folded)
			}
			if q.Actor != "" && strings.Contains(folded, "TEMP B-TREE") {
				t.Errorf("%+v: the folded part sorts, though the actor index is in seq order:\n%s", q, folded)
			}
			if tail := plan(aq.tail, args...); !strings.Contains(tail, "SEARCH k USING INTEGER PRIMARY KEY (rowid>?") || strings.Contains(tail, "SCAN") {
				t.Errorf("%+v: the tail is not a range of audit_events' primary key:\n%s", q, tail)
			}
		}
	}
}
