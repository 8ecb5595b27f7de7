package audit

import (
	"context"
	"strings"
	"time"
)

// Store is what the audit recorder needs from storage.
type Store interface {
	// AppendAudit runs build inside one transaction that holds the audit chain's lock, with the
	// sequence number and hash of the last event (0 and "" when there is none), and inserts the
	// event build returns (whose Seq must be prevSeq+1).
	AppendAudit(ctx context.Context, build func(prevSeq int64, prevHash string) (Event, error)) (Event, error)
	// ListAudit returns up to limit events with Seq > after, in Seq order.
	ListAudit(ctx context.Context, after int64, limit int) ([]Event, error)
}

// Query selects audit events for a listing (GET /admin/v1/audit). The zero Query is every event,
// oldest first. Filters are Lanyard's own (Azure's activity log is another API):
//   - Actor: the actor exactly ("console:…", "sp:{object id}", "admin-socket:uid=0");
//   - Action: the action or an action under it, by whole dot-separated parts: "vault.secret"
//     matches "vault.secret" and "vault.secret.get", not "vault.secrets";
//   - Target: every target that starts with it ("/subscriptions/…/resourceGroups/rg" matches the
//     group, rg2 and everything under them; end it with "/" for what is under rg only);
//   - Result: exactly ("success", "denied", "failure");
//   - From, To: From <= time < To (zero: unbounded);
//   - After, Before: After < seq < Before (Before 0: unbounded).
//
// Strings are compared as stored, case included.
type Query struct {
	Actor, Action, Target, Result string
	From, To                      time.Time
	After, Before                 int64
	Limit                         int
	Newest                        bool // newest first (descending seq) instead of oldest first
}

// Match reports whether e passes q's filters (not its After, Before and Limit): what a store's
// QueryAudit selects, written once in Go for tests and for readers.
func (q Query) Match(e Event) bool {
	return (q.Actor == "" || e.Actor == q.Actor) &&
		(q.Action == "" || e.Action == q.Action || strings.HasPrefix(e.Action, q.Action+".")) &&
		strings.HasPrefix(e.Target, q.Target) &&
		(q.Result == "" || e.Result == q.Result) &&
		(q.From.IsZero() || !e.Time.Before(q.From)) && (q.To.IsZero() || e.Time.Before(q.To))
}

// Filtered reports whether q has a filter other than the seq bounds.
func (q Query) Filtered() bool {
	return q.Actor != "" || q.Action != "" || q.Target != "" || q.Result != "" || !q.From.IsZero() || !q.To.IsZero()
}

// QueryStore lists audit events by a Query, through the indexes of the folded keys (migration
// 0017) and the unfolded tail of the chain.
type QueryStore interface {
	// QueryAudit returns up to q.Limit events that match q, in seq order (descending when
	// q.Newest).
	QueryAudit(ctx context.Context, q Query) ([]Event, error)
}

// KeyStore folds the chain's filter keys into their indexed table (migration 0017), off the
// path that appends events, so that an append writes one B-tree.
type KeyStore interface {
	// FoldAuditKeys copies the keys of up to limit events not folded yet, oldest first, and
	// returns how many it copied.
	FoldAuditKeys(ctx context.Context, limit int) (int, error)
}
