package arm

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// ARM error codes, as ARM sends them in error.code.
const (
	CodeInvalidResourceID          = "InvalidResourceId"
	CodeInvalidSubscriptionID      = "InvalidSubscriptionId"
	CodeInvalidResourceGroup       = "InvalidResourceGroup"
	CodeInvalidResourceName        = "InvalidResourceName"
	CodeInvalidResourceNamespace   = "InvalidResourceNamespace"
	CodeInvalidResourceType        = "InvalidResourceType"
	CodeMissingAPIVersion          = "MissingApiVersionParameter"
	CodeInvalidAPIVersion          = "InvalidApiVersionParameter"
	CodeInvalidRequestContent      = "InvalidRequestContent"
	CodeInvalidQueryParameterValue = "InvalidQueryParameterValue"
	CodeAuthenticationFailed       = "AuthenticationFailed"
	CodeInvalidAuthenticationToken = "InvalidAuthenticationToken"
	CodeAuthorizationFailed        = "AuthorizationFailed"
	CodeResourceNotFound           = "ResourceNotFound"
	CodeResourceGroupNotFound      = "ResourceGroupNotFound"
	CodeSubscriptionNotFound       = "SubscriptionNotFound"
	CodeMissingSubscription        = "MissingSubscription"
	CodeConflict                   = "Conflict"
)

// E returns an errs.Error of kind k carrying the ARM code and a caller-safe message.
func E(k errs.Kind, code, format string, args ...any) *errs.Error {
	return &errs.Error{Kind: k, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Clip is clip for the packages that write ARM errors of their own.
func Clip(s string) string { return clip(s) }

// maxEcho bounds how much of a caller's input an error message repeats.
const maxEcho = 300

// clip makes caller input safe to repeat in a message: at most maxEcho runes, control and invalid
// characters replaced.
func clip(s string) string {
	s = printable(s)
	n := 0
	for i := range s {
		if n == maxEcho {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// printable replaces control characters and invalid UTF-8 in s with U+FFFD.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}
