package arm

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Paging of a list, as ARM pages: the client may ask for at most $top items; when there are
// more, the answer's "nextLink" is the URL of the next page, the request's own with a
// $skipToken, which the SDKs' pagers follow as given. Without $top a list is one answer, as
// Azure's resource group, resource and role assignment lists are ("If null is passed, returns
// all"). The skip token is Lanyard's: where the page ended (a key of the list's order), base64url.

// MaxTop bounds $top.
const MaxTop = 1000

// Paging is a list request's $top (0: not given, the whole list) and where to continue (the
// decoded $skipToken, "" for the first page).
type Paging struct {
	Top   int
	After string
}

// ParsePaging reads $top (1 to MaxTop) and $skipToken (one of NextLink's) of r.
func ParsePaging(r *http.Request) (Paging, error) {
	var p Paging
	q := r.URL.Query()
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTop {
			return Paging{}, E(errs.Invalid, CodeInvalidRequestContent, "$top must be a whole number from 1 to %d.", MaxTop)
		}
		p.Top = n
	}
	if v := q.Get("$skipToken"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(raw) == 0 {
			return Paging{}, E(errs.Invalid, CodeInvalidRequestContent, "The $skipToken is not one this API gave out.")
		}
		p.After = string(raw)
	}
	return p, nil
}

// NextLink is the URL of the page after the one that ended at after: the request's own (path and
// query, $top and $filter with it) on its host, with $skipToken set.
func NextLink(r *http.Request, after string) string {
	q := r.URL.Query()
	q.Set("$skipToken", base64.RawURLEncoding.EncodeToString([]byte(after)))
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}
