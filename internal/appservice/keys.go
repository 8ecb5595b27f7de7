package appservice

import (
	"context"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// Function keys (functions.md §2.2, §2.4). Azure's: the master key _master, host function keys
// (default "default", made on the first read), system keys, and each function's keys (default
// "default", made on the first read of that function's keys); a new key's value is URL-safe
// base64 of 40 random bytes. Lanyard's: the value carries no AzFu signature or checksum (they
// are opaque to clients); keys are sealed under the KEK at rest; the master key is made on the
// first use of the app's keys (a read, or a node asking for the site).

var (
	// functionNameRE is a function's name (Azure's rule, compared without case).
	functionNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_\-]{0,127}$`)
	// keyNameRE is a key's name (Lanyard's rule: letters, digits, '_', '-', '.').
	keyNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,128}$`)
	// keyValueRE is a key's value when the caller gives one (Lanyard's rule: 16 to 512
	// characters that need no escaping in a query string's code parameter).
	keyValueRE = regexp.MustCompile(`^[a-zA-Z0-9_.=\-~]{16,512}$`)
)

// keyBytes is the entropy of a generated key.
const keyBytes = 40

func (s *Service) newKeyValue() (string, error) {
	b := make([]byte, keyBytes)
	if err := s.random(b); err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

func sealAD(id string) seal.AD { return seal.AD{Table: SealTable, ID: id, Purpose: SealPurpose} }

// sealKey makes a key row for scope and name with value.
func (s *Service) sealKey(scope, name, value string) (FunctionKey, error) {
	id, err := s.newID()
	if err != nil {
		return FunctionKey{}, err
	}
	sealed, err := s.KEK.Seal(randReader{s}, []byte(value), sealAD(id))
	if err != nil {
		return FunctionKey{}, errs.Wrap(errs.Internal, err, "seal key")
	}
	return FunctionKey{ID: id, Scope: scope, Name: name, KEKID: s.KEK.ID(), Sealed: sealed, Created: s.now().Truncate(time.Microsecond)}, nil
}

// randReader reads the Service's randomness under its lock.
type randReader struct{ s *Service }

func (r randReader) Read(b []byte) (int, error) {
	if err := r.s.random(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// ensureKey makes a key of scope and name with a new value unless the site has one.
func (s *Service) ensureKey(ctx context.Context, tenantID, siteKey, scope, name string) error {
	v, err := s.newKeyValue()
	if err != nil {
		return err
	}
	k, err := s.sealKey(scope, name, v)
	if err != nil {
		return err
	}
	_, err = s.Store.AddFunctionKey(ctx, tenantID, siteKey, k)
	return err
}

// keysOf reads and opens a site's keys, making the master key and the host's default key when
// they are missing (and the function's default key when fn is not "").
func (s *Service) keysOf(ctx context.Context, tenantID, siteKey, fn string) (agentapi.FunctionKeys, error) {
	var out agentapi.FunctionKeys
	for attempt := 0; ; attempt++ {
		list, err := s.Store.ListFunctionKeys(ctx, tenantID, siteKey)
		if err != nil {
			return out, err
		}
		out = agentapi.FunctionKeys{Host: map[string]string{}, System: map[string]string{}, Functions: map[string]map[string]string{}}
		fnScope := ScopeFunction + strings.ToLower(fn)
		hasFn := false
		for _, k := range list {
			plain, err := s.KEK.Open(k.Sealed, sealAD(k.ID))
			if err != nil {
				return out, errs.Wrap(errs.Internal, err, "open sealed key")
			}
			v := string(plain)
			switch {
			case k.Scope == ScopeMaster:
				out.Master = v
			case k.Scope == ScopeHost:
				out.Host[k.Name] = v
			case k.Scope == ScopeSystem:
				out.System[k.Name] = v
			case strings.HasPrefix(k.Scope, ScopeFunction):
				name := strings.TrimPrefix(k.Scope, ScopeFunction)
				if out.Functions[name] == nil {
					out.Functions[name] = map[string]string{}
				}
				out.Functions[name][k.Name] = v
				if k.Scope == fnScope && k.Name == DefaultKeyName {
					hasFn = true
				}
			}
		}
		_, hasHost := out.Host[DefaultKeyName]
		if out.Master != "" && hasHost && (fn == "" || hasFn) || attempt == 1 {
			return out, nil
		}
		if out.Master == "" {
			if err := s.ensureKey(ctx, tenantID, siteKey, ScopeMaster, MasterKeyName); err != nil {
				return out, err
			}
		}
		if !hasHost {
			if err := s.ensureKey(ctx, tenantID, siteKey, ScopeHost, DefaultKeyName); err != nil {
				return out, err
			}
		}
		if fn != "" && !hasFn {
			if err := s.ensureKey(ctx, tenantID, siteKey, fnScope, DefaultKeyName); err != nil {
				return out, err
			}
		}
	}
}

// functionSite checks the caller's action on a function app.
func (s *Service) functionSite(ctx context.Context, p authn.Principal, tenantID string, id arm.ID, action string) (resources.Resource, error) {
	site, err := s.Sites.SiteFor(ctx, p, tenantID, id, action)
	if err != nil {
		return resources.Resource{}, err
	}
	if !isFunctionApp(site) {
		return resources.Resource{}, invalid("The site '%s' is not a function app (its kind is '%s'): only function apps have function keys.", site.Name, arm.Clip(site.Kind))
	}
	return site, nil
}

// ListHostKeys is POST .../host/default/listkeys (Microsoft.Web/sites/host/listkeys/action).
func (s *Service) ListHostKeys(ctx context.Context, p authn.Principal, tenantID string, id arm.ID) (agentapi.FunctionKeys, error) {
	site, err := s.functionSite(ctx, p, tenantID, id, actionHostListKeys)
	if err != nil {
		return agentapi.FunctionKeys{}, err
	}
	keys, err := s.keysOf(ctx, tenantID, site.Key(), "")
	if err := s.record(ctx, p, "site.functionkey.list", id.String()+"/host/default", "", err); err != nil {
		return agentapi.FunctionKeys{}, err
	}
	return keys, nil
}

func checkFunctionName(fn string) error {
	if !functionNameRE.MatchString(fn) {
		return invalid("The function name '%s' is not valid: a letter, then up to 127 letters, digits, '_' and '-'.", arm.Clip(fn))
	}
	return nil
}

// ListFunctionKeysOf is POST .../functions/{fn}/listkeys or listsecrets: the function's own keys,
// its default key made on the first read. The server does not know which functions a package
// holds: any valid name has keys.
func (s *Service) ListFunctionKeysOf(ctx context.Context, p authn.Principal, tenantID string, id arm.ID, fn, action string) (map[string]string, resources.Resource, error) {
	if err := checkFunctionName(fn); err != nil {
		return nil, resources.Resource{}, err
	}
	site, err := s.functionSite(ctx, p, tenantID, id, action)
	if err != nil {
		return nil, resources.Resource{}, err
	}
	keys, err := s.keysOf(ctx, tenantID, site.Key(), fn)
	if err := s.record(ctx, p, "site.functionkey.list", id.String()+"/functions/"+strings.ToLower(fn), "", err); err != nil {
		return nil, resources.Resource{}, err
	}
	return keys.Functions[strings.ToLower(fn)], site, nil
}

// keyInfo is ARM's KeyInfo: {"properties": {"name", "value"}} (functions.md §2.4); the flat
// {"name", "value"} some clients send is read too.
type keyInfo struct {
	Name       *string `json:"name"`
	Value      *string `json:"value"`
	Properties *struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	} `json:"properties"`
}

// serveKeyWrite serves PUT and DELETE of .../host/default/{kind}/{name} and
// .../functions/{fn}/keys/{name}.
func (s *Service) serveKeyWrite(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID, rt route) error {
	ctx := r.Context()
	verb := "write"
	if r.Method == http.MethodDelete {
		verb = "delete"
	}
	var scope, action, target string
	switch rt.op {
	case opHostKey:
		action = hostKeyAction(rt.kind, verb)
		target = id.String() + "/host/default/" + rt.kind + "/" + rt.name
		switch rt.kind {
		case "functionKeys":
			scope = ScopeHost
		case "systemKeys":
			scope = ScopeSystem
		default:
			scope = ScopeMaster
		}
	default:
		if err := checkFunctionName(rt.fn); err != nil {
			return err
		}
		action = actionFunctionKeyWrite
		if verb == "delete" {
			action = actionFunctionKeyDel
		}
		scope = ScopeFunction + strings.ToLower(rt.fn)
		target = id.String() + "/functions/" + rt.fn + "/keys/" + rt.name
	}
	name := rt.name
	if scope == ScopeMaster {
		name = MasterKeyName // Azure has one master key, whatever the path names
	} else if !keyNameRE.MatchString(name) {
		return invalid("The key name '%s' is not valid: 1 to 128 letters, digits, '_', '-' and '.'.", arm.Clip(name))
	}
	site, err := s.functionSite(ctx, p, tenantID, id, action)
	if err != nil {
		return err
	}
	if verb == "delete" {
		if scope == ScopeMaster {
			return invalid("Cannot delete System Key.") // the master key cannot go (functions.md §2.3)
		}
		found, err := s.Store.DeleteFunctionKey(ctx, tenantID, site.Key(), scope, name, s.now())
		if err == nil && !found {
			// Azure's DeleteHostSecret and DeleteFunctionSecret answer 404 for a key that is not
			// there, 204 for one deleted (the REST specification's responses); audited as a failure.
			err = arm.E(errs.NotFound, arm.CodeResourceNotFound, "The key '%s' does not exist.", arm.Clip(name))
		}
		if err := s.record(ctx, p, "site.functionkey.delete", target, "", err); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var in keyInfo
	if err := decodeBody(r, &in); err != nil {
		return err
	}
	value := ""
	switch {
	case in.Properties != nil && in.Properties.Value != nil:
		value = *in.Properties.Value
	case in.Value != nil:
		value = *in.Value
	}
	generated := value == ""
	if generated {
		if value, err = s.newKeyValue(); err != nil {
			return err
		}
	} else if !keyValueRE.MatchString(value) {
		return invalid("The key value is not valid: 16 to 512 letters, digits and '_', '-', '.', '=', '~'.")
	}
	k, err := s.sealKey(scope, name, value)
	if err != nil {
		return err
	}
	created, err := s.Store.PutFunctionKey(ctx, tenantID, site.Key(), k)
	detail := "generated=false"
	if generated {
		detail = "generated=true"
	}
	if err := s.record(ctx, p, "site.functionkey.write", target, detail, err); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, map[string]any{
		"id": target, "name": name, "type": resources.TypeSite + "/keys",
		"properties": map[string]string{"name": name, "value": value},
	})
	return nil
}
