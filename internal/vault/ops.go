package vault

import (
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// result is an operation's answer: its status and body (nil for none), and the version it
// touched, for the audit record.
type result struct {
	status  int
	body    any
	version string
}

// run authorizes op for the request, runs fn, audits the outcome and, only once the audit
// record is written, sends the answer.
func (s *Service) run(rq *request, op action, fn func() (result, error)) error {
	ctx := rq.r.Context()
	if err := s.authorize(ctx, rq, op); err != nil {
		_ = s.record(ctx, rq.c, rq.v, op, rq.name, rq.ver, err)
		return err
	}
	res, err := fn()
	ver := res.version
	if ver == "" {
		ver = rq.ver
	}
	if aerr := s.record(ctx, rq.c, rq.v, op, rq.name, ver, err); aerr != nil && err == nil {
		return errs.Wrap(errs.Unavailable, aerr, "The operation could not be audited; try again.")
	}
	if err != nil {
		return err
	}
	if res.body == nil {
		rq.w.WriteHeader(res.status)
		return nil
	}
	httpx.WriteJSON(rq.w, res.status, res.body)
	return nil
}

func (s *Service) set(rq *request) error {
	var in struct {
		Value       *string           `json:"value"`
		ContentType string            `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *attrsIn          `json:"attributes"`
	}
	// The body is checked after authorization: an unauthorized caller learns nothing from it.
	return s.run(rq, opSet, func() (result, error) {
		if err := decode(rq.r, maxRequestBytes, &in); err != nil {
			return result{}, err
		}
		switch {
		case in.Value == nil:
			return result{}, badParameter("The secret's 'value' is required.")
		case len(*in.Value) > MaxValueBytes:
			return result{}, badParameter("The secret's value is %d bytes: values are at most %d bytes (25 KB).", len(*in.Value), MaxValueBytes)
		}
		if err := checkTags(in.Tags); err != nil {
			return result{}, err
		}
		if err := checkContentType(in.ContentType); err != nil {
			return result{}, err
		}
		ver, err := s.newVersion()
		if err != nil {
			return result{}, err
		}
		now := s.now().UTC().Truncate(time.Second)
		x := Version{VaultKey: rq.v.Key, Name: rq.name, Version: ver, ContentType: in.ContentType, Tags: in.Tags,
			Enabled: true, Created: now, Updated: now, KEKID: s.KEK.ID()}
		if err := in.Attributes.apply(&x); err != nil {
			return result{}, err
		}
		// The name as first written stays the secret's; a new version keeps it.
		if sec, _, err := s.Store.GetSecret(rq.r.Context(), rq.v.Key, rq.name, ""); err == nil {
			x.Name = sec.Latest.Name
		}
		sealed, err := s.KEK.Seal(s.rand(), []byte(*in.Value), sealAD(rq.v.Key, x.Name, ver))
		if err != nil {
			return result{}, errs.Wrap(errs.Internal, err, "seal")
		}
		x.Sealed = sealed
		if err := s.Store.PutSecretVersion(rq.r.Context(), x); err != nil {
			return result{}, mapStore(err, rq.name)
		}
		return result{status: http.StatusOK, body: s.bundle(rq, x, in.Value, true), version: ver}, nil
	})
}

// usable refuses a value read from a disabled version or one outside its nbf/exp window.
func usable(x Version, now time.Time) error {
	switch {
	case !x.Enabled:
		return &errs.Error{Kind: errs.Denied, Code: "Forbidden:SecretDisabled", Msg: "Operation get is not allowed on a disabled secret."}
	case !x.NotBefore.IsZero() && now.Before(x.NotBefore):
		return &errs.Error{Kind: errs.Denied, Code: "Forbidden:SecretNotYetValid", Msg: "Operation get is not allowed on a secret before its activation time (nbf)."}
	case !x.Expires.IsZero() && !now.Before(x.Expires):
		return &errs.Error{Kind: errs.Denied, Code: "Forbidden:SecretExpired", Msg: "Operation get is not allowed on an expired secret."}
	}
	return nil
}

func (s *Service) get(rq *request) error {
	return s.run(rq, opGet, func() (result, error) {
		var sec Secret
		var x Version
		var err error
		if p := rq.pre; p != nil && p.name == rq.name && p.ver == rq.ver {
			sec, x, err = p.sec, p.x, p.err // read in the statement that checked the vault's generation
		} else {
			sec, x, err = s.Store.GetSecret(rq.r.Context(), rq.v.Key, rq.name, rq.ver)
		}
		if errs.Is(err, errs.NotFound) || err == nil && sec.Deleted() {
			return result{}, notFound(rq.name, rq.ver)
		}
		if err != nil {
			return result{}, err
		}
		if err := usable(x, s.now()); err != nil {
			return result{version: x.Version}, err
		}
		plain, err := s.KEK.Open(x.Sealed, sealAD(rq.v.Key, x.Name, x.Version))
		if err != nil {
			return result{}, errs.Wrap(errs.Internal, err, "open sealed secret")
		}
		value := string(plain)
		return result{status: http.StatusOK, body: s.bundle(rq, x, &value, true), version: x.Version}, nil
	})
}

func (s *Service) update(rq *request) error {
	var in struct {
		ContentType *string           `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  *attrsIn          `json:"attributes"`
	}
	return s.run(rq, opUpdate, func() (result, error) {
		if err := decode(rq.r, maxRequestBytes, &in); err != nil {
			return result{}, err
		}
		if err := checkTags(in.Tags); err != nil {
			return result{}, err
		}
		sec, x, err := s.Store.GetSecret(rq.r.Context(), rq.v.Key, rq.name, rq.ver)
		if errs.Is(err, errs.NotFound) || err == nil && sec.Deleted() {
			return result{}, notFound(rq.name, rq.ver)
		}
		if err != nil {
			return result{}, err
		}
		if in.ContentType != nil {
			if err := checkContentType(*in.ContentType); err != nil {
				return result{}, err
			}
			x.ContentType = *in.ContentType
		}
		if in.Tags != nil {
			x.Tags = in.Tags
		}
		if err := in.Attributes.apply(&x); err != nil {
			return result{}, err
		}
		x.Updated = s.now().UTC().Truncate(time.Second)
		if err := s.Store.UpdateSecretVersion(rq.r.Context(), x); err != nil {
			if errs.Is(err, errs.NotFound) {
				return result{}, notFound(rq.name, rq.ver)
			}
			return result{}, err
		}
		return result{status: http.StatusOK, body: s.bundle(rq, x, nil, true), version: x.Version}, nil
	})
}

func (s *Service) list(rq *request) error { return s.listSecrets(rq, false) }

func (s *Service) listDeleted(rq *request) error { return s.listSecrets(rq, true) }

func (s *Service) listSecrets(rq *request, deleted bool) error {
	op, path := opList, "/secrets"
	if deleted {
		op, path = opListDeleted, "/deletedsecrets"
	}
	return s.run(rq, op, func() (result, error) {
		limit := rq.q.pageLimit()
		secs, err := s.Store.ListSecrets(rq.r.Context(), rq.v.Key, deleted, rq.q.SkipToken, limit+1)
		if err != nil {
			return result{}, err
		}
		out := listJSON{Value: []bundleJSON{}}
		if len(secs) > limit {
			secs = secs[:limit]
			next := rq.q.nextLink(s.vaultURL(rq.v)+path, strings.ToLower(secs[limit-1].Latest.Name))
			out.NextLink = &next
		}
		for _, sec := range secs {
			if deleted {
				out.Value = append(out.Value, s.deletedBundle(rq, sec, false))
			} else {
				out.Value = append(out.Value, s.bundle(rq, sec.Latest, nil, false))
			}
		}
		return result{status: http.StatusOK, body: out}, nil
	})
}

func (s *Service) listVersions(rq *request) error {
	return s.run(rq, opListVersion, func() (result, error) {
		if rq.q.SkipToken != "" && !versionPattern.MatchString(rq.q.SkipToken) {
			return result{}, badParameter("The '$skiptoken' query parameter is not one this vault gave out.")
		}
		limit := rq.q.pageLimit()
		vs, err := s.Store.ListSecretVersions(rq.r.Context(), rq.v.Key, rq.name, rq.q.SkipToken, limit+1)
		if errs.Is(err, errs.NotFound) {
			return result{}, notFound(rq.name, "")
		}
		if err != nil {
			return result{}, err
		}
		out := listJSON{Value: []bundleJSON{}}
		if len(vs) > limit {
			vs = vs[:limit]
			next := rq.q.nextLink(s.vaultURL(rq.v)+"/secrets/"+vs[0].Name+"/versions", vs[limit-1].Version)
			out.NextLink = &next
		}
		for _, x := range vs {
			out.Value = append(out.Value, s.bundle(rq, x, nil, true))
		}
		return result{status: http.StatusOK, body: out}, nil
	})
}

func (s *Service) delete(rq *request) error {
	return s.run(rq, opDelete, func() (result, error) {
		now := s.now().UTC()
		purgeAt := now.Add(time.Duration(rq.set.RetentionDays) * 24 * time.Hour)
		sec, err := s.Store.DeleteSecret(rq.r.Context(), rq.v.Key, rq.name, now, purgeAt)
		if errs.Is(err, errs.NotFound) {
			return result{}, notFound(rq.name, "")
		}
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: s.deletedBundle(rq, sec, true), version: sec.Latest.Version}, nil
	})
}

func (s *Service) getDeleted(rq *request) error {
	return s.run(rq, opGetDeleted, func() (result, error) {
		sec, _, err := s.Store.GetSecret(rq.r.Context(), rq.v.Key, rq.name, "")
		if errs.Is(err, errs.NotFound) || err == nil && !sec.Deleted() {
			return result{}, deletedNotFound(rq.name)
		}
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: s.deletedBundle(rq, sec, true)}, nil
	})
}

func (s *Service) recover(rq *request) error {
	return s.run(rq, opRecover, func() (result, error) {
		sec, err := s.Store.RecoverSecret(rq.r.Context(), rq.v.Key, rq.name)
		if errs.Is(err, errs.NotFound) {
			return result{}, deletedNotFound(rq.name)
		}
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusOK, body: s.bundle(rq, sec.Latest, nil, true), version: sec.Latest.Version}, nil
	})
}

func (s *Service) purge(rq *request) error {
	return s.run(rq, opPurge, func() (result, error) {
		if rq.set.PurgeProtection {
			sec, _, err := s.Store.GetSecret(rq.r.Context(), rq.v.Key, rq.name, "")
			if errs.Is(err, errs.NotFound) || err == nil && !sec.Deleted() {
				return result{}, deletedNotFound(rq.name)
			}
			return result{}, &errs.Error{Kind: errs.Denied, Code: "Forbidden:PurgeProtectionEnabled",
				Msg: "Operation \"purge\" is not allowed because purge protection is enabled for this vault. The secret will be purged when its retention period ends."}
		}
		err := s.Store.PurgeSecret(rq.r.Context(), rq.v.Key, rq.name)
		if errs.Is(err, errs.NotFound) {
			return result{}, deletedNotFound(rq.name)
		}
		if err != nil {
			return result{}, err
		}
		return result{status: http.StatusNoContent}, nil
	})
}
