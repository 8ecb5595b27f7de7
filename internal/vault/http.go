package vault

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// request is one data-plane request after the vault is found and the caller authenticated.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	v    Vault
	set  settings // v's, parsed once per request
	c    caller
	q    query
	name string // the secret's name, "" when the path has none
	ver  string
	pre  *prefetched // the secret a GET names, read with the vault's generation; nil if not
}

// prefetched is a secret read together with the vault generation (GetSecretWithGeneration),
// before the request was authorized: it is used only once the request is, and only for the
// secret and version it was read for.
type prefetched struct {
	name, ver string
	sec       Secret
	x         Version
	err       error // errs.NotFound when there is no such secret or version
}

// vaultFor returns the vault name, as of the store's state now. A GET of a secret of a vault
// kept from an earlier request reads the secret and the vault generation in one statement and
// uses the kept vault (and the secret, or its absence) only if the generation is unchanged, as
// vaultCache does; otherwise, and for every other request, the vault cache reads the generation
// (and the vault if it changed). The statement is the same whether the secret exists or not, so
// the time of a refusal says nothing about it.
func (s *Service) vaultFor(r *http.Request, name string) (Vault, settings, *prefetched, error) {
	if sname, ver, ok := secretGet(r); ok {
		if k, ok := s.vaults.kept(name); ok {
			gen, sec, x, err := s.Store.GetSecretWithGeneration(r.Context(), k.v.Key, sname, ver)
			switch {
			case err != nil && !errs.Is(err, errs.NotFound):
				return Vault{}, settings{}, nil, err
			case gen == k.v.Gen:
				return k.v, k.set, &prefetched{name: sname, ver: ver, sec: sec, x: x, err: err}, nil
			}
		}
	}
	v, set, err := s.vaults.vault(r.Context(), s.Store, name)
	return v, set, nil, err
}

// secretGet says whether r is GET /secrets/{name}[/{version}] with a valid name and version, as
// route would take it.
func secretGet(r *http.Request) (name, ver string, ok bool) {
	if r.Method != http.MethodGet {
		return "", "", false
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || !strings.EqualFold(segs[0], "secrets") || !ValidName(segs[1]) {
		return "", "", false
	}
	if len(segs) == 3 {
		ver = segs[2]
	}
	if ver != "" && !versionPattern.MatchString(ver) {
		return "", "", false
	}
	return segs[1], ver, true
}

// Handler serves the data plane of every vault: the vault is the one the request's Host names.
// Errors are in Key Vault's shape; a 401 carries the challenge for the vault's tenant.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serve(w, r); err != nil {
			httpx.WriteError(w, r, httpx.KeyVault, err)
		}
	})
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) error {
	name, ok := s.VaultName(r.Host)
	if !ok {
		return &errs.Error{Kind: errs.NotFound, Code: "VaultNotFound", Msg: "The host name is not that of a vault: vaults are {name}." + s.domainHost() + "."}
	}
	v, set, pre, err := s.vaultFor(r, name)
	if errs.Is(err, errs.NotFound) {
		return &errs.Error{Kind: errs.NotFound, Code: "VaultNotFound", Msg: "No vault named '" + clip(name) + "' exists."}
	}
	if err != nil {
		return err
	}
	p, err := s.Auth.Authenticate(r)
	if err == nil && !p.Admin && !strings.EqualFold(p.TenantID, v.TenantID) {
		err = errs.E(errs.Unauthenticated, "AKV10032: Invalid issuer. The token is of tenant '%s'; this vault is of tenant '%s'.", p.TenantID, v.TenantID)
	}
	if err != nil {
		if errs.KindOf(err) == errs.Unauthenticated || errs.KindOf(err) == errs.Denied {
			msg := errs.Message(err)
			if r.Header.Get("Authorization") == "" {
				msg = "AKV10000: Request is missing a Bearer or PoP token."
			}
			w.Header().Set("WWW-Authenticate", Challenge(s.Authority, v.TenantID, s.Resource()))
			// A refused credential is not audited here, one event a request: the server's guard
			// records the refusals of unidentified callers in aggregate, per source and window
			// (audit.Refusals), with the reason (never the credential).
			return &errs.Error{Kind: errs.Unauthenticated, Code: "Unauthorized", Msg: msg, Err: err}
		}
		return err
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	rq := &request{w: w, r: r, v: v, set: set, c: caller{p}, q: q, pre: pre}
	h, err := s.route(rq)
	if err != nil {
		return err
	}
	if h == nil {
		httpx.KeyVault(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "HTTP "+r.Method+" not allowed")
		return nil
	}
	return h(rq)
}

type op func(*request) error

// route picks the operation for the path and method; nil with no error is 405.
func (s *Service) route(rq *request) (op, error) {
	r := rq.r
	path := r.URL.Path
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	coll := strings.ToLower(segs[0])
	if coll != "secrets" && coll != "deletedsecrets" {
		return nil, &errs.Error{Kind: errs.NotFound, Code: "NotFound", Msg: "This vault serves secrets only: /secrets and /deletedsecrets."}
	}
	if len(segs) > 3 {
		return nil, badParameter("The path has too many segments.")
	}
	if len(segs) >= 2 {
		rq.name = segs[1]
	}
	if len(segs) == 3 {
		rq.ver = segs[2]
	}
	m := r.Method
	if coll == "deletedsecrets" {
		switch {
		case rq.name == "" && len(segs) <= 2:
			return pick(m, map[string]op{http.MethodGet: s.listDeleted}), nil
		case len(segs) == 2 || len(segs) == 3 && rq.ver == "":
			return pick(m, map[string]op{http.MethodGet: s.getDeleted, http.MethodDelete: s.purge}), s.checkName(rq)
		case strings.EqualFold(rq.ver, "recover"):
			rq.ver = ""
			return pick(m, map[string]op{http.MethodPost: s.recover}), s.checkName(rq)
		}
		return nil, &errs.Error{Kind: errs.NotFound, Code: "NotFound", Msg: "No such operation on deleted secrets."}
	}
	switch {
	case rq.name == "" && len(segs) <= 2:
		return pick(m, map[string]op{http.MethodGet: s.list}), nil
	case rq.name == "":
		return nil, badParameter("The secret name is empty.")
	case strings.EqualFold(rq.name, "restore") && len(segs) == 2 && m == http.MethodPost:
		rq.name = ""
		return s.restore, nil
	case len(segs) == 2:
		return pick(m, map[string]op{http.MethodPut: s.set, http.MethodGet: s.get, http.MethodPatch: s.update, http.MethodDelete: s.delete}), s.checkName(rq)
	case rq.ver == "":
		return pick(m, map[string]op{http.MethodGet: s.get, http.MethodPatch: s.update}), s.checkName(rq)
	case strings.EqualFold(rq.ver, "versions"):
		rq.ver = ""
		return pick(m, map[string]op{http.MethodGet: s.listVersions}), s.checkName(rq)
	case strings.EqualFold(rq.ver, "backup"):
		rq.ver = ""
		return pick(m, map[string]op{http.MethodPost: s.backup}), s.checkName(rq)
	}
	if !versionPattern.MatchString(rq.ver) {
		return nil, badParameter("The secret version '%s' is not valid: a version is 32 lower-case hexadecimal digits.", clip(rq.ver))
	}
	return pick(m, map[string]op{http.MethodGet: s.get, http.MethodPatch: s.update}), s.checkName(rq)
}

func pick(method string, ops map[string]op) op { return ops[method] }

func (s *Service) checkName(rq *request) error {
	if !ValidName(rq.name) {
		return badParameter("The secret name '%s' is not valid: names are 1 to 127 characters, letters, digits and '-' only (^[0-9a-zA-Z-]+$).", clip(rq.name))
	}
	return nil
}

// Wire shapes (azure-wire.md §6.3). Times are integer unix seconds.

type attributesJSON struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
}

type bundleJSON struct {
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         attributesJSON    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
}

type listJSON struct {
	Value    []bundleJSON `json:"value"`
	NextLink *string      `json:"nextLink"`
}

func unixPtr(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

// bundle renders a version of the request's vault; value is nil unless the operation returns
// the value. versioned says whether id names the version.
func (s *Service) bundle(rq *request, x Version, value *string, versioned bool) bundleJSON {
	v, set := rq.v, rq.set
	enabled, days := x.Enabled, set.RetentionDays
	id := s.vaultURL(v) + "/secrets/" + x.Name
	if versioned {
		id += "/" + x.Version
	}
	return bundleJSON{
		Value: value, ID: id, ContentType: x.ContentType, Tags: x.Tags,
		Attributes: attributesJSON{
			Enabled: &enabled, NotBefore: unixPtr(x.NotBefore), Expires: unixPtr(x.Expires),
			Created: unixPtr(x.Created), Updated: unixPtr(x.Updated), RecoveryLevel: set.recoveryLevel(), RecoverableDays: &days,
		},
	}
}

// deletedBundle renders a deleted secret.
func (s *Service) deletedBundle(rq *request, sec Secret, versioned bool) bundleJSON {
	b := s.bundle(rq, sec.Latest, nil, versioned)
	b.RecoveryID = s.vaultURL(rq.v) + "/deletedsecrets/" + sec.Latest.Name
	b.DeletedDate, b.ScheduledPurgeDate = unixPtr(sec.DeletedAt), unixPtr(sec.PurgeAt)
	return b
}

// decode reads a JSON body of at most limit bytes. Unknown members are ignored, as Key Vault
// does (clients send read-only attributes back).
func decode(r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		return badParameter("The request body is larger than %d bytes.", limit)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return badParameter("The request body is empty: this operation needs a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badParameter("The request body is not valid JSON for this operation: %s.", clip(err.Error()))
	}
	return nil
}

// attrsIn are the writable attributes a request may carry.
type attrsIn struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

func (a *attrsIn) apply(x *Version) error {
	if a == nil {
		return nil
	}
	if a.Enabled != nil {
		x.Enabled = *a.Enabled
	}
	if a.NotBefore != nil {
		x.NotBefore = time.Unix(*a.NotBefore, 0).UTC()
	}
	if a.Expires != nil {
		x.Expires = time.Unix(*a.Expires, 0).UTC()
	}
	if !x.NotBefore.IsZero() && !x.Expires.IsZero() && x.Expires.Before(x.NotBefore) {
		return badParameter("The secret's expiry (exp) is before its activation time (nbf).")
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return badParameter("A secret can have at most %d tags.", MaxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > maxTagKeyLen || len(v) > maxTagValueLen {
			return badParameter("Tag names must be 1 to %d characters and tag values at most %d.", maxTagKeyLen, maxTagValueLen)
		}
	}
	return nil
}

func checkContentType(ct string) error {
	if len(ct) > maxContentType {
		return badParameter("The content type is longer than %d characters.", maxContentType)
	}
	return nil
}
