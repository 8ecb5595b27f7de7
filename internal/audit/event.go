package audit

import "time"

// Event is one audit record. Hash covers PrevHash and every other field, so that a changed,
// removed or inserted row breaks the chain. No token, secret value, key or join token is ever put
// in any field.
type Event struct {
	Seq       int64     `json:"seq"`    // 1, 2, 3 ... assigned by the store
	Time      time.Time `json:"time"`   // UTC, microsecond precision
	Actor     string    `json:"actor"`  // who: "admin-socket:uid=0", a principal object id, "system"
	Action    string    `json:"action"` // what: "tenant.create", "signing-key.rotate", ...
	Target    string    `json:"target"` // on what: an id or a name
	Result    string    `json:"result"` // "success", "denied", "failure"
	RequestID string    `json:"requestId,omitempty"`
	Detail    string    `json:"detail,omitempty"` // free text, never secret
	PrevHash  string    `json:"prevHash"`         // hex; "" for the first event
	Hash      string    `json:"hash"`             // hex SHA-256
}
