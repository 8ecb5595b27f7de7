package directory

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/directory/odata"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Paging: a list is a keyset scan in id order. The store returns pages after a cursor; $filter is
// applied here, over as many pages as it takes to fill $top (or to reach the end); the skip token
// of the next link holds the id of the last object returned, so that each object is returned
// exactly once across pages whatever is created or deleted meanwhile.

const (
	filterBatch    = 200  // objects read per store call while filtering
	maxFilterBatch = 1000 // ... at most
)

// listing describes one collection of T.
type listing[T any] struct {
	typ     entityType
	context string // the @odata.context after "$metadata#", such as "servicePrincipals('…')/appRoleAssignedTo"
	fetch   func(afterID string, limit int) ([]T, error)
	// byName, if set, is fetch restricted to the objects whose displayName starts with a prefix
	// (Graph's case-insensitive startswith), through an index: used instead of fetch when the
	// filter is such a startswith, alone or as one term of an "and".
	byName func(prefix, afterID string, limit int) ([]T, error)
	id     func(T) string
	render func(T) map[string]any
	// lookup, if set, finds the one object a filter "field eq 'value'" (or
	// "field/any(x:x eq 'value')") can match, by an index, for the fields it knows: found=false with
	// a nil error for a field it does not handle (scan instead). A missing object is a nil T slice.
	lookup func(op, field, value string) (items []T, handled bool, err error)
}

// parseQuery reads the query options of a request with Graph's limits ($top 1 to 999, 100 by
// default) and checks $select against typ; $count is not supported.
func parseQuery(r *http.Request, typ entityType) (odata.Query, error) {
	q, err := odata.ParseQuery(r.URL.Query(), odata.Options{MaxTop: 999, DefaultTop: 100})
	if err != nil {
		return odata.Query{}, err
	}
	if q.Count {
		return odata.Query{}, badRequest("Query option '$count' is not supported.")
	}
	if err := odata.ValidateSelect(q.Select, typ.properties, typ.name); err != nil {
		return odata.Query{}, err
	}
	return q, nil
}

// checkFilter refuses a filter over a property that is not filterable, or one that compares a
// property with a literal of another type (evaluated against zero, the rendering of an empty
// object, so that the answer does not depend on the data).
func checkFilter(f *odata.Expr, typ entityType, zero map[string]any) error {
	for _, field := range f.Fields() {
		if _, ok := typ.filterName(field); !ok {
			short := strings.TrimPrefix(typ.name, "microsoft.graph.")
			return badRequest("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", field, short)
		}
	}
	_, err := f.Eval(getter(zero, typ))
	return err
}

func getter(m map[string]any, typ entityType) func(string) (any, bool) {
	return func(field string) (any, bool) {
		name, ok := typ.filterName(field)
		if !ok {
			return nil, false
		}
		if slices.Contains(typ.guids, name) {
			s, _ := m[name].(string)
			return odata.GuidProp{S: s, Null: m[name] == nil}, true
		}
		return m[name], true
	}
}

// list answers a GET of a collection.
func list[T any](s *Service, c *call, l listing[T]) error {
	q, err := parseQuery(c.r, l.typ)
	if err != nil {
		return err
	}
	var zero T
	if err := checkFilter(q.Filter, l.typ, l.render(zero)); err != nil {
		return err
	}
	after := ""
	if q.SkipToken != "" {
		if after, err = odata.DecodeSkipToken(q.SkipToken); err != nil {
			return err
		}
	}
	values := make([]map[string]any, 0, min(q.Top, 100))
	lastID, more := "", false
	keep := func(item T) (bool, error) { // reports whether the page is full
		m := l.render(item)
		ok, err := q.Filter.Eval(getter(m, l.typ))
		if err != nil || !ok {
			return false, err
		}
		if len(values) == q.Top {
			more = true
			return true, nil
		}
		values = append(values, odata.Project(m, q.Select))
		lastID = l.id(item)
		return false, nil
	}

	items, handled, err := fastPath(q.Filter, l.lookup)
	switch {
	case err != nil:
		return err
	case handled:
		for _, item := range items {
			if l.id(item) > after {
				if _, err := keep(item); err != nil {
					return err
				}
			}
		}
	default:
		fetch := l.fetch
		batch := q.Top + 1
		if prefix, ok := namePrefix(q.Filter); ok && l.byName != nil {
			// The store returns only candidates; the whole filter is still evaluated below.
			fetch = func(after string, n int) ([]T, error) { return l.byName(prefix, after, n) }
			if q.Filter.Op != odata.OpStartsWith {
				batch = min(max(batch, filterBatch), maxFilterBatch)
			}
		} else if q.Filter != nil {
			batch = min(max(batch, filterBatch), maxFilterBatch)
		}
		cursor := after
	scan:
		for {
			items, err := fetch(cursor, batch)
			if err != nil {
				return err
			}
			for _, item := range items {
				cursor = l.id(item)
				full, err := keep(item)
				if err != nil {
					return err
				}
				if full {
					break scan
				}
			}
			if len(items) < batch {
				break
			}
		}
	}

	body := map[string]any{"@odata.context": s.contextURL(l.context + odata.ContextSelect(q.Select)), "value": values}
	if more {
		body["@odata.nextLink"] = s.nextLink(c.r, odata.EncodeSkipToken(lastID))
	}
	httpx.WriteJSON(c.w, http.StatusOK, body)
	return nil
}

// namePrefix finds a startswith(displayName,'…') that f requires: f itself, or a term of a chain
// of "and"s. Its prefix narrows a scan to an index range without changing the answer.
func namePrefix(f *odata.Expr) (string, bool) {
	switch {
	case f == nil:
		return "", false
	case f.Op == odata.OpAnd:
		if p, ok := namePrefix(f.Left); ok {
			return p, true
		}
		return namePrefix(f.Right)
	case f.Op == odata.OpStartsWith && strings.EqualFold(f.Field, "displayName") && f.Value.Kind == odata.String:
		return f.Value.Str, true
	}
	return "", false
}

// fastPath answers a filter that is one equality on a field lookup knows through an index.
func fastPath[T any](f *odata.Expr, lookup func(op, field, value string) ([]T, bool, error)) ([]T, bool, error) {
	if f == nil || lookup == nil || f.Value.Kind != odata.String || (f.Op != odata.OpEq && f.Op != odata.OpAny) {
		return nil, false, nil
	}
	items, handled, err := lookup(f.Op, f.Field, f.Value.Str)
	if errs.Is(err, errs.NotFound) {
		return nil, true, nil
	}
	return items, handled, err
}

// contextURL is the @odata.context of a response: {PublicURL}/v1.0/$metadata#{what}.
func (s *Service) contextURL(what string) string {
	return s.PublicURL + "/v1.0/$metadata#" + what
}

// nextLink is the request's own URL on the public base, its query kept as sent but for the skip
// token, which is replaced: so the link carries $top, $filter and $select with it.
func (s *Service) nextLink(r *http.Request, token string) string {
	var parts []string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "skiptoken") {
			continue
		}
		parts = append(parts, kv)
	}
	parts = append(parts, "$skiptoken="+token)
	return s.PublicURL + r.URL.EscapedPath() + "?" + strings.Join(parts, "&")
}

// writeEntity answers with one object: its $select projection and its @odata.context
// ({what}{(selection)}/$entity).
func (s *Service) writeEntity(c *call, status int, what string, obj map[string]any, sel []string) {
	obj = odata.Project(obj, sel)
	obj["@odata.context"] = s.contextURL(what + odata.ContextSelect(sel) + "/$entity")
	httpx.WriteJSON(c.w, status, obj)
}

// getEntity answers a GET of one object of typ, honouring $select.
func (s *Service) getEntity(c *call, typ entityType, what string, obj map[string]any) error {
	q, err := parseQuery(c.r, typ)
	if err != nil {
		return err
	}
	s.writeEntity(c, http.StatusOK, what, obj, q.Select)
	return nil
}
