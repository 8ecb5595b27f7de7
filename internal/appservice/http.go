package appservice

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// opKind says which of this package's routes a path names.
type opKind int

const (
	opZipDeploy       opKind = iota + 1 // POST {site}/extensions/zipdeploy
	opAppSettings                       // GET, PUT {site}/config/appsettings
	opAppSettingsLst                    // POST {site}/config/appsettings/list
	opConfigRefs                        // GET {site}/config/configreferences/appsettings[/{key}]
	opHostListKeys                      // POST {site}/host/default/listkeys
	opHostKey                           // PUT, DELETE {site}/host/default/{functionKeys|systemKeys|masterKey}/{name}
	opFnListKeys                        // POST {site}/functions/{fn}/listkeys
	opFnListSecrets                     // POST {site}/functions/{fn}/listsecrets
	opFnKey                             // PUT, DELETE {site}/functions/{fn}/keys/{name}
	opSlotConfigNames                   // GET {site}/config/slotConfigNames
	opLogStream                         // GET {site}/logstream (Lanyard's own: server-sent events)
)

// route is a parsed path of this package.
type route struct {
	op      opKind
	site    string // the site's ARM id as written
	kind    string // opHostKey: functionKeys, systemKeys or masterKey (as Azure spells them)
	fn      string // the function's name
	name    string // the key's or setting's name
	methods string
}

// parseRoute recognises the paths of this package under a site's id
// (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Web/sites/{name}/...). Keywords
// match in any case, as ARM's do. Slots (…/slots/{slot}/…) are not served.
func parseRoute(path string) (route, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) < 9 || !strings.EqualFold(segs[0], "subscriptions") || !strings.EqualFold(segs[2], "resourceGroups") ||
		!strings.EqualFold(segs[4], "providers") || !strings.EqualFold(segs[5], "Microsoft.Web") || !strings.EqualFold(segs[6], "sites") {
		return route{}, false
	}
	for _, s := range segs {
		if s == "" {
			return route{}, false
		}
	}
	rt := route{site: "/" + strings.Join(segs[:8], "/")}
	rest := segs[8:]
	is := func(i int, kw string) bool { return i < len(rest) && strings.EqualFold(rest[i], kw) }
	switch n := len(rest); {
	case n == 2 && is(0, "extensions") && is(1, "zipdeploy"):
		rt.op, rt.methods = opZipDeploy, "POST"
	case n == 2 && is(0, "config") && is(1, "appsettings"):
		rt.op, rt.methods = opAppSettings, "GET, PUT"
	case n == 1 && is(0, "logstream"):
		rt.op, rt.methods = opLogStream, "GET"
	case n == 2 && is(0, "config") && is(1, "slotConfigNames"):
		rt.op, rt.methods = opSlotConfigNames, "GET"
	case n == 3 && is(0, "config") && is(1, "appsettings") && is(2, "list"):
		rt.op, rt.methods = opAppSettingsLst, "POST"
	case (n == 3 || n == 4) && is(0, "config") && is(1, "configreferences") && is(2, "appsettings"):
		rt.op, rt.methods = opConfigRefs, "GET"
		if n == 4 {
			rt.name = rest[3]
		}
	case n == 3 && is(0, "host") && is(1, "default") && is(2, "listkeys"):
		rt.op, rt.methods = opHostListKeys, "POST"
	case n == 4 && is(0, "host") && is(1, "default") && (is(2, "functionKeys") || is(2, "systemKeys") || is(2, "masterKey")):
		rt.op, rt.methods, rt.name = opHostKey, "PUT, DELETE", rest[3]
		for _, k := range []string{"functionKeys", "systemKeys", "masterKey"} {
			if strings.EqualFold(rest[2], k) {
				rt.kind = k
			}
		}
	case n == 3 && is(0, "functions") && is(2, "listkeys"):
		rt.op, rt.methods, rt.fn = opFnListKeys, "POST", rest[1]
	case n == 3 && is(0, "functions") && is(2, "listsecrets"):
		rt.op, rt.methods, rt.fn = opFnListSecrets, "POST", rest[1]
	case n == 4 && is(0, "functions") && is(2, "keys"):
		rt.op, rt.methods, rt.fn, rt.name = opFnKey, "PUT, DELETE", rest[1], rest[3]
	default:
		return route{}, false
	}
	return rt, true
}

// MatchPath reports whether Handler serves path.
func MatchPath(path string) bool {
	_, ok := parseRoute(path)
	return ok
}

// Handler serves the routes of MatchPath in ARM's shape.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := parseRoute(r.URL.Path)
		if !ok {
			httpx.WriteError(w, r, s.shape(), arm.E(errs.NotFound, arm.CodeResourceNotFound,
				"No HTTP resource was found that matches the request URI '%s'.", arm.Clip(r.URL.Path)))
			return
		}
		s.Sites.ServeSiteRoute(w, r, rt.methods, func(p authn.Principal, tenantID string) error {
			id, err := arm.Parse(rt.site)
			if err != nil {
				return err
			}
			return s.dispatch(w, r, p, tenantID, id, rt)
		})
	})
}

func (s *Service) dispatch(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID, rt route) error {
	ctx := r.Context()
	// Answers may carry keys and settings' values: no cache keeps them.
	w.Header().Set("Cache-Control", "no-store")
	switch rt.op {
	case opZipDeploy:
		return s.serveZipDeploy(w, r, p, tenantID, id)
	case opAppSettings, opAppSettingsLst:
		var (
			site     resources.Resource
			settings map[string]string
			err      error
		)
		switch {
		case r.Method == http.MethodPut:
			var in struct {
				Properties map[string]*string `json:"properties"`
			}
			if err := decodeBody(r, &in); err != nil {
				return err
			}
			site, settings, err = s.PutAppSettings(ctx, p, tenantID, id, in.Properties)
		default:
			site, settings, err = s.GetAppSettings(ctx, p, tenantID, id, rt.op == opAppSettingsLst)
		}
		if err != nil {
			return err
		}
		props := map[string]any{}
		for k, v := range settings {
			props[k] = v
		}
		if rt.op == opAppSettings && r.Method == http.MethodGet {
			// Lanyard's: a plain read (config/read) names the settings without their values,
			// which only the list action (config/list/action) returns, as Azure's list does.
			for k := range props {
				props[k] = nil
			}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{
			"id": site.ID + "/config/appsettings", "name": "appsettings", "type": resources.TypeSite + "/config",
			"location": site.Location, "properties": props,
		})
		return nil
	case opConfigRefs:
		return s.serveConfigRefs(w, r, p, tenantID, id, rt.name)
	case opLogStream:
		return s.serveLogStream(w, r, p, tenantID, id)
	case opSlotConfigNames:
		// Lanyard has no deployment slots: no setting sticks to one. az reads this document to
		// print appsettings' slotSetting.
		site, err := s.Sites.SiteFor(ctx, p, tenantID, id, actionConfigRead)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{
			"id": site.ID + "/config/slotConfigNames", "name": "slotConfigNames", "type": resources.TypeSite + "/config",
			"location": site.Location, "properties": map[string]any{
				"appSettingNames": []string{}, "connectionStringNames": []string{}, "azureStorageConfigNames": []string{},
			},
		})
		return nil
	case opHostListKeys:
		keys, err := s.ListHostKeys(ctx, p, tenantID, id)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{
			"masterKey": keys.Master, "functionKeys": nonNil(keys.Host), "systemKeys": nonNil(keys.System),
		})
		return nil
	case opFnListKeys:
		keys, _, err := s.ListFunctionKeysOf(ctx, p, tenantID, id, rt.fn, actionFunctionListKeys)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, nonNil(keys)) // flat, as the service answers (functions.md §2.4)
		return nil
	case opFnListSecrets:
		keys, site, err := s.ListFunctionKeysOf(ctx, p, tenantID, id, rt.fn, actionFunctionSecrets)
		if err != nil {
			return err
		}
		key := keys[DefaultKeyName]
		// The route prefix is the app's host.json business; Lanyard's trigger_url assumes the
		// default, "api" (functions.md §2.4).
		httpx.WriteJSON(w, http.StatusOK, map[string]string{
			"key": key, "trigger_url": "https://" + s.hostName(site) + "/api/" + rt.fn + "?code=" + key,
		})
		return nil
	case opHostKey, opFnKey:
		return s.serveKeyWrite(w, r, p, tenantID, id, rt)
	}
	return arm.E(errs.NotFound, arm.CodeResourceNotFound, "No such route.")
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
