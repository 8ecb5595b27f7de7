package vault

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// query is what a data-plane request's query string says.
type query struct {
	APIVersion string
	MaxResults int    // 0: the default
	SkipToken  string // decoded: where the previous page ended
}

// apiVersionPattern accepts Key Vault's version shapes: 7.0 … 7.6 (with an optional -preview
// suffix), and dates such as 2025-07-01 or 2026-04-01(-preview).
var apiVersionPattern = regexp.MustCompile(`^(?:[1-9][0-9]?\.[0-9]{1,2}|20[0-9]{2}-[01][0-9]-[0-3][0-9])(?:-preview(?:\.[0-9]{1,2})?)?$`)

// parseQuery decodes a raw query string as the clients send it: keys and values
// percent-decoded (the JS client sends api%2Dversion), api-version required, maxresults 1–25,
// $skiptoken one of ours.
func parseQuery(raw string) (query, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, badParameter("The query string is malformed: %s.", clip(err.Error()))
	}
	var q query
	for k, vs := range vals {
		if len(vs) != 1 {
			return query{}, badParameter("The query parameter '%s' is given more than once.", clip(k))
		}
		v := vs[0]
		switch strings.ToLower(k) {
		case "api-version":
			if !apiVersionPattern.MatchString(v) {
				return query{}, badParameter("The specified version (%s) is not recognized. Consider using the latest supported version (2026-04-01).", clip(v))
			}
			q.APIVersion = v
		case "maxresults":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxPageSize {
				return query{}, badParameter("The 'maxresults' query parameter must be a whole number from 1 to %d.", MaxPageSize)
			}
			q.MaxResults = n
		case "$skiptoken":
			tok, err := decodeSkipToken(v)
			if err != nil {
				return query{}, err
			}
			q.SkipToken = tok
		}
	}
	if q.APIVersion == "" {
		return query{}, badParameter("The 'api-version' query parameter is missing: every request needs one, such as api-version=2026-04-01.")
	}
	return q, nil
}

// Skip tokens are the lower-cased name (secret lists) or the version (version lists) the page
// ended with, base64url without padding.
func encodeSkipToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeSkipToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	s := string(b)
	if err != nil || !(namePattern.MatchString(s) && s == strings.ToLower(s)) {
		return "", badParameter("The '$skiptoken' query parameter is not one this vault gave out.")
	}
	return s, nil
}

// pageLimit is the page size a query asks for.
func (q query) pageLimit() int {
	if q.MaxResults == 0 {
		return MaxPageSize
	}
	return q.MaxResults
}

// nextLink is the absolute URL of the page after the one ending at last: base (the vault's URL
// and path) with api-version, $skiptoken and maxresults, as Key Vault's are (the Go client
// follows it verbatim, adding nothing).
func (q query) nextLink(base, last string) string {
	v := "api-version=" + url.QueryEscape(q.APIVersion) + "&$skiptoken=" + encodeSkipToken(last)
	if q.MaxResults != 0 {
		v += "&maxresults=" + strconv.Itoa(q.MaxResults)
	}
	return base + "?" + v
}

// clip shortens what a caller sent before it is echoed in a message.
func clip(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
