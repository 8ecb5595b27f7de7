package audit

import "context"

// Store is what the audit recorder needs from storage.
type Store interface {
	// AppendAudit runs build inside one transaction that holds the audit chain's lock, with the
	// sequence number and hash of the last event (0 and "" when there is none), and inserts the
	// event build returns (whose Seq must be prevSeq+1).
	AppendAudit(ctx context.Context, build func(prevSeq int64, prevHash string) (Event, error)) (Event, error)
	// ListAudit returns up to limit events with Seq > after, in Seq order.
	ListAudit(ctx context.Context, after int64, limit int) ([]Event, error)
}
