package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Status maps an error kind to its HTTP status.
func Status(k errs.Kind) int {
	switch k {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.Denied:
		return http.StatusForbidden
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict:
		return http.StatusConflict
	case errs.TooMany:
		return http.StatusTooManyRequests
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Shape renders an error body in one API's format. status is already decided; msg is safe to
// show; code is the error's API code or "" for the shape's default.
type Shape func(w http.ResponseWriter, r *http.Request, status int, code, msg string)

// OAuth2 renders RFC 6749 error bodies: {"error": code, "error_description": msg}.
func OAuth2(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if code == "" {
		code = oauthCode(status)
	}
	WriteJSON(w, status, map[string]string{"error": code, "error_description": msg})
}

func oauthCode(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusNotFound:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "unauthorized_client"
	case http.StatusForbidden:
		return "access_denied"
	case http.StatusTooManyRequests:
		return "temporarily_unavailable"
	case http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	}
	return "server_error"
}

// Plain renders Lanyard's own error body, the same as ARM's: {"error":{"code","message"}}.
func Plain(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if code == "" {
		code = http.StatusText(status)
	}
	WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// WriteError logs err's internal cause (never sent) and renders it with shape.
func WriteError(w http.ResponseWriter, r *http.Request, shape Shape, err error) {
	k := errs.KindOf(err)
	status := Status(k)
	if k == errs.Internal || k == errs.Unavailable {
		Logger(r.Context()).LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("error", err.Error()))
	}
	if k == errs.Unauthenticated {
		noteRefusal(r, errs.Message(err)) // for the Guard's audit of the refusal
	}
	shape(w, r, status, errs.CodeOf(err), errs.Message(err))
}

// Handler is an http handler that returns its error for the API's shape to render.
type Handler func(w http.ResponseWriter, r *http.Request) error

// With adapts h to http.Handler, rendering a returned error in shape.
func With(shape Shape, h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, shape, err)
		}
	})
}

// WriteJSON writes v as JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// MaxBody is the default request body limit (spec: 1 MiB unless an API says otherwise).
const MaxBody = 1 << 20

// DecodeJSON reads a JSON body of at most MaxBody bytes into v, rejecting unknown fields.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.Wrap(errs.Invalid, err, "request body is not valid JSON for this operation: "+err.Error())
	}
	return nil
}
