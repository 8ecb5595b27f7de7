package httpx

import (
	"net/http"
	"time"
)

// graphError is Microsoft Graph's error body, in Graph's field order.
type graphError struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		InnerError graphInnerError `json:"innerError"`
	} `json:"error"`
}

type graphInnerError struct {
	Date            string `json:"date"` // UTC, seconds, no zone: 2006-01-02T15:04:05
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// Graph returns the Shape of Microsoft Graph's error bodies:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}. The date
// comes from now (time.Now when nil); request-id is the request's id (or the response's
// request-id header); client-request-id echoes the request's header of that name, or is the
// request id when the client sent none, as Graph does.
func Graph(now func() time.Time) Shape {
	if now == nil {
		now = time.Now
	}
	return func(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
		if code == "" {
			code = graphCode(status)
		}
		var body graphError
		body.Error.Code, body.Error.Message = code, msg
		id := RequestID(r.Context())
		if id == "" {
			id = w.Header().Get("request-id")
		}
		client := r.Header.Get("client-request-id")
		if client == "" {
			client = id
		}
		body.Error.InnerError = graphInnerError{Date: now().UTC().Format("2006-01-02T15:04:05"), RequestID: id, ClientRequestID: client}
		WriteJSON(w, status, body)
	}
}

// graphCode is Graph's directory error code for a status.
func graphCode(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return "Request_BadRequest"
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken"
	case http.StatusForbidden:
		return "Authorization_RequestDenied"
	case http.StatusNotFound:
		return "Request_ResourceNotFound"
	case http.StatusConflict:
		return "Request_MultipleObjectsWithSameKeyValue"
	case http.StatusUnsupportedMediaType:
		return "Request_UnsupportedMediaType"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "Service_ServiceUnavailable"
	}
	return "Service_InternalServerError"
}
