// Package audit records who did what to which object, as an append-only chain of events in the
// store (each event's hash covers the previous one's, so a changed, removed or inserted row is
// detected by Verify) and as a line in the server's log. It owns the event format and the chain;
// it does not decide what is audited (the domains call Record) and never receives secret material.
package audit
