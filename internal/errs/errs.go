// Package errs defines the kinds of error every Lanyard API distinguishes, and an Error that keeps
// the message safe to show a caller apart from the internal cause, which is only logged.
package errs

import (
	"errors"
	"fmt"
)

// Kind says what went wrong from the caller's point of view; each API maps it to a status code.
type Kind int

// The kinds. Internal is the zero value so that an unclassified error is never shown in detail.
const (
	Internal        Kind = iota // a bug or an unexpected failure: 500, message hidden
	Invalid                     // bad input: 400
	Unauthenticated             // no or bad credentials: 401
	Denied                      // authenticated but not allowed: 403
	NotFound                    // 404
	Conflict                    // 409
	TooMany                     // 429
	Unavailable                 // a dependency is down: 503
)

var kindNames = [...]string{"internal", "invalid", "unauthenticated", "denied", "not found", "conflict", "too many requests", "unavailable"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a kind, a message that may be shown to the caller, an optional
// API-specific code (such as "SecretNotFound") and an internal cause that is never shown.
type Error struct {
	Kind Kind
	Code string // optional API error code; each API has a default per kind
	Msg  string // safe to show the caller
	Err  error  // internal cause, logged only
}

func (e *Error) Error() string {
	switch {
	case e.Msg != "" && e.Err != nil:
		return e.Msg + ": " + e.Err.Error()
	case e.Msg != "":
		return e.Msg
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an Error of kind k with a formatted caller-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap builds an Error of kind k with a caller-safe message and an internal cause.
func Wrap(k Kind, err error, msg string) *Error {
	return &Error{Kind: k, Msg: msg, Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message returns the caller-safe message of err: the Msg of its *Error, or a generic text for
// an internal error, whose details must not leave the server.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal && e.Msg != "" {
		return e.Msg
	}
	if errors.As(err, &e) && e.Kind != Internal {
		return e.Kind.String()
	}
	return "internal error"
}

// CodeOf returns the API error code of err's *Error, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
