package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// App settings: the site's config document appsettings, a flat object of names to values,
// replaced as a whole by PUT .../config/appsettings {"properties": {...}} and read with the list
// action POST .../config/appsettings/list (Azure's; az's appsettings set/delete read, change and
// write back the whole document). The workers see them as environment variables (functions.md
// §10), with Key Vault references resolved (§7).

// Limits on app settings (Lanyard's: Azure documents none it enforces up front; environment
// variables must stay usable).
const (
	maxSettings     = 2000
	maxSettingName  = 1024
	maxSettingValue = 64 << 10
	maxSettingsJSON = 4 << 20
)

// checkSettingName checks an app setting's name: not empty, no '=' (it could not be an
// environment variable's name), no control characters, at most maxSettingName bytes.
func checkSettingName(name string) error {
	if name == "" || len(name) > maxSettingName || strings.ContainsRune(name, '=') ||
		strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return invalid("The app setting name '%s' is not valid: names are 1 to %d characters, without '=' or control characters.", arm.Clip(name), maxSettingName)
	}
	return nil
}

// checkSettings checks a whole set of app settings.
func checkSettings(in map[string]string) error {
	if len(in) > maxSettings {
		return invalid("A site has at most %d app settings.", maxSettings)
	}
	seen := make(map[string]string, len(in))
	for k, v := range in {
		if err := checkSettingName(k); err != nil {
			return err
		}
		if other, dup := seen[strings.ToLower(k)]; dup {
			return invalid("The app settings '%s' and '%s' differ only in case: names are compared without case.", arm.Clip(k), arm.Clip(other))
		}
		seen[strings.ToLower(k)] = k
		if len(v) > maxSettingValue || strings.ContainsRune(v, 0) {
			return invalid("The value of the app setting '%s' is longer than %d bytes or holds a NUL character.", arm.Clip(k), maxSettingValue)
		}
	}
	return nil
}

// appSettings reads a site's app settings (none when never written).
func (s *Service) appSettings(ctx context.Context, tenantID, siteKey string) (map[string]string, json.RawMessage, error) {
	raw, err := s.Store.GetSiteConfig(ctx, tenantID, siteKey, configAppSettings)
	if errs.Is(err, errs.NotFound) {
		return map[string]string{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "stored app settings")
	}
	return out, raw, nil
}

// GetAppSettings returns a site's app settings. withValues is the list action
// (Microsoft.Web/sites/config/list/action); a plain read needs config/read.
func (s *Service) GetAppSettings(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, withValues bool) (resources.Resource, map[string]string, error) {
	action := actionConfigRead
	if withValues {
		action = actionConfigList
	}
	res, err := s.Sites.SiteFor(ctx, p, tenantID, site, action)
	if err != nil {
		return resources.Resource{}, nil, err
	}
	settings, _, err := s.appSettings(ctx, tenantID, site.Key())
	if withValues { // values are read (names only in the event), audited as the vault audits reads
		if err := s.record(ctx, p, "site.appsettings.list", site.String()+"/config/appsettings", "", err); err != nil {
			return resources.Resource{}, nil, err
		}
	}
	return res, settings, err
}

// PutAppSettings replaces a site's app settings (config/write). A null value is stored as "".
func (s *Service) PutAppSettings(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, in map[string]*string) (resources.Resource, map[string]string, error) {
	res, err := s.Sites.SiteFor(ctx, p, tenantID, site, actionConfigWrite)
	if err != nil {
		return resources.Resource{}, nil, err
	}
	settings := make(map[string]string, len(in))
	for k, v := range in {
		settings[k] = ""
		if v != nil {
			settings[k] = *v
		}
	}
	if err := checkSettings(settings); err != nil {
		return resources.Resource{}, nil, err
	}
	raw, err := json.Marshal(settings)
	if err != nil {
		return resources.Resource{}, nil, errs.Wrap(errs.Internal, err, "encode app settings")
	}
	if len(raw) > maxSettingsJSON {
		return resources.Resource{}, nil, invalid("The app settings are larger than %d bytes in all.", maxSettingsJSON)
	}
	err = s.Store.PutSiteConfig(ctx, tenantID, site.Key(), configAppSettings, raw, s.now())
	if errs.Is(err, errs.NotFound) {
		err = resources.ResourceNotFound(site)
	}
	// The names are audited, never the values.
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	detail := "settings=" + arm.Clip(strings.Join(sortedStrings(names), ","))
	if err := s.record(ctx, p, "site.appsettings.write", site.String()+"/config/appsettings", detail, err); err != nil {
		return resources.Resource{}, nil, err
	}
	s.refs.forget(site.Key())
	return res, settings, nil
}

// decodeBody reads a JSON object of at most httpx.MaxBody bytes into v.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, httpx.MaxBody))
	if err != nil {
		return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The request content could not be read: it must be a JSON object of at most %d bytes.", httpx.MaxBody)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The request content must be a JSON object.")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The request content was invalid and could not be deserialized: %s.", arm.Clip(err.Error()))
	}
	return nil
}
