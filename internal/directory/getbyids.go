package directory

import (
	"net/http"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// POST /v1.0/directoryObjects/getByIds (also .../microsoft.graph.getByIds), as in Graph: the
// objects of up to 1000 ids, of the types asked for ("directoryObject", the default, is all of
// them), each with its "@odata.type"; ids that name nothing, or an object of another type, are
// left out without an error. Lanyard's directory objects are service principals, applications
// and groups: "user", "device" and other types Graph has find nothing here. Service principals
// are read in one query (the console's display names for a page of role assignments).
// Objects are returned in the order of ids, each once (Graph does not promise an order).

const maxGetByIds = 1000 // Graph's limit

type getByIdsBody struct {
	IDs   []string `json:"ids"`
	Types []string `json:"types"`
}

// getByIdsTypes are the types of directoryObject getByIds knows, in lower case.
var getByIdsTypes = []string{"directoryobject", "serviceprincipal", "application", "group", "user", "device",
	"orgcontact", "administrativeunit", "approleassignment"}

func (s *Service) getByIds(c *call) error {
	var b getByIdsBody
	if err := decodeBody(c.r, &b, "microsoft.graph.directoryObject"); err != nil {
		return err
	}
	if len(b.IDs) == 0 {
		return badRequest("The 'ids' parameter is required and must hold at least one id.")
	}
	if len(b.IDs) > maxGetByIds {
		return badRequest("The 'ids' parameter holds %d ids; at most %d are allowed.", len(b.IDs), maxGetByIds)
	}
	ids := make([]string, 0, len(b.IDs))
	for _, v := range b.IDs {
		id, err := objectID(v)
		if err != nil {
			return err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	want := map[string]bool{}
	for _, t := range b.Types {
		t = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(t, "#"), "microsoft.graph."))
		if !slices.Contains(getByIdsTypes, t) {
			return badRequest("The type '%s' in 'types' is not a directory object type.", t)
		}
		want[t] = true
	}
	all := len(want) == 0 || want["directoryobject"]
	found := map[string]map[string]any{}

	if all || want["serviceprincipal"] {
		sps, err := s.Store.GetServicePrincipals(c.ctx, c.tenant, ids)
		if err != nil {
			return err
		}
		for _, sp := range sps {
			found[sp.ID] = memberJSON(sp)
		}
	}
	// Applications and groups are looked up one by one, for the ids that are not service
	// principals (rare in practice; bounded by maxGetByIds).
	groups := all || want["group"]
	if groups {
		// Groups need the groups' read permission on top of the route's.
		if err := s.authorize(c.ctx, c.p, c.tenant, readGroups); err != nil {
			if !errs.Is(err, errs.Denied) {
				return err
			}
			groups = false
		}
	}
	for _, id := range ids {
		if found[id] != nil {
			continue
		}
		if all || want["application"] {
			app, err := s.Store.GetApplication(c.ctx, c.tenant, Key{ID: id})
			switch {
			case err == nil:
				m := applicationJSON(app)
				m["@odata.type"] = "#microsoft.graph.application"
				found[id] = m
				continue
			case !errs.Is(err, errs.NotFound):
				return err
			}
		}
		if groups {
			g, err := s.Store.GetGroup(c.ctx, c.tenant, id)
			switch {
			case err == nil:
				m := groupJSON(g)
				m["@odata.type"] = "#microsoft.graph.group"
				found[id] = m
			case !errs.Is(err, errs.NotFound):
				return err
			}
		}
	}
	values := make([]map[string]any, 0, len(found))
	for _, id := range ids {
		if m := found[id]; m != nil {
			values = append(values, m)
		}
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]any{"@odata.context": s.contextURL("directoryObjects"), "value": values})
	return nil
}
