package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// page is what every template gets: the layout's fields and the page's own Data.
type page struct {
	Title string
	Nav   string // the menu entry to mark as current
	Crumb []crumb
	Flash string
	Error string
	CSRF  string
	Actor string
	Data  any
}

type crumb struct{ Label, Href string }

// funcs are the templates' helpers. Every value they return is escaped by html/template like any
// other, except none: no helper returns template.HTML.
var funcs = template.FuncMap{
	"pathEsc": url.PathEscape,
	"join":    strings.Join,
	"lower":   strings.ToLower,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"unix": func(s int64) string {
		if s == 0 {
			return ""
		}
		return time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"has": func(list []string, v string) bool {
		for _, x := range list {
			if strings.EqualFold(x, v) {
				return true
			}
		}
		return false
	},
	"add":   func(a, b int) int { return a + b },
	"list":  func(v ...string) []string { return v },
	"deref": func(b *bool) bool { return b != nil && *b },
	"last": func(s string) string {
		if i := strings.LastIndex(s, "/"); i >= 0 {
			return s[i+1:]
		}
		return s
	},
}

// render writes a page with status 200.
func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, p *page) error {
	c.renderStatus(w, r, http.StatusOK, name, p)
	return nil
}

// renderStatus executes the page into a buffer first, so that a template error is an error page,
// never half a page.
func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if s, ok := r.Context().Value(sessionKey{}).(*current); ok {
		p.CSRF, p.Actor = csrfToken(s.secret), s.Actor()
	}
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("ok")]
	}
	t, ok := c.pages[name]
	var buf bytes.Buffer
	var err error
	if !ok {
		err = fmt.Errorf("no template %s", name)
	} else {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		c.Log.Error("console template", "template", name, "error", err.Error())
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// flashes are the messages a redirect after a change may show (?ok=KEY): fixed texts, so that a
// link cannot make the console say anything else.
var flashes = map[string]string{
	"saved":      "Saved.",
	"created":    "Created.",
	"deleted":    "Deleted.",
	"recovered":  "Recovered.",
	"purged":     "Purged.",
	"disabled":   "Disabled.",
	"enabled":    "Enabled.",
	"added":      "Added.",
	"removed":    "Removed.",
	"assigned":   "Assigned.",
	"signed-out": "You are signed out.",
}

// seeOther redirects after a change, to a console path, with a fixed message.
func seeOther(w http.ResponseWriter, r *http.Request, path, ok string) error {
	if ok != "" {
		if strings.Contains(path, "?") {
			path += "&ok=" + ok
		} else {
			path += "?ok=" + ok
		}
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}
