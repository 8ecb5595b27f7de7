package console

import (
	"net/http"
	"strings"
)

// dashboardMinutes is how many minutes the dashboard's charts show.
const dashboardMinutes = 30

func (c *Console) home(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	bars, pairs := c.Activity.snapshotOrEmpty(dashboardMinutes)
	if len(pairs) > 10 {
		pairs = pairs[:10]
	}
	ids := make([]string, 0, len(pairs))
	for _, p := range pairs {
		ids = append(ids, p.Principal)
	}
	if sps, err := servicePrincipalsByID(r.Context(), api, ids); err == nil { // names are a nicety here: the ids show without them
		for i := range pairs {
			pairs[i].Name = sps[strings.ToLower(pairs[i].Principal)].DisplayName
		}
	}
	tokens, refused, reads := 0, 0, 0
	for _, b := range bars {
		tokens, refused, reads = tokens+b.Tokens, refused+b.Refused, reads+b.VaultReads
	}
	return c.render(w, r, "home.html", &page{Title: "Dashboard", Nav: "home", Data: map[string]any{
		"Bars": bars, "Pairs": pairs, "Tokens": tokens, "Refused": refused, "Reads": reads, "Minutes": dashboardMinutes}})
}

func (a *Activity) snapshotOrEmpty(n int) ([]bar, []pairCount) {
	if a == nil {
		return make([]bar, n), nil
	}
	return a.snapshot(n)
}
