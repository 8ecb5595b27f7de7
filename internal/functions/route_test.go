package functions

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

func showParams(m map[string]*string) string {
	var out []string
	for k, v := range m {
		if v == nil {
			out = append(out, k+"=<nil>")
		} else {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestRouteMatch(t *testing.T) {
	for _, tc := range []struct {
		tmpl, path string
		want       string // "" for no match, else the parameters ("-" for none)
	}{
		{"products", "products", "-"},
		{"products", "Products/", "-"},
		{"products", "products/1", ""},
		{"products/{id}", "products/1", "id=1"},
		{"products/{id}", "products", ""},
		{"products/{id:int}", "products/12", "id=12"},
		{"products/{id:int}", "products/x", ""},
		{"products/{id:int}", "products/99999999999", ""},
		{"products/{id:long}", "products/99999999999", "id=99999999999"},
		{"products/{id:int?}", "products", "id=<nil>"},
		{"products/{id:int?}", "products/5", "id=5"},
		{"products/{category:alpha}/{id:int?}", "products/Tools", "category=Tools id=<nil>"},
		{"products/{category:alpha}/{id:int?}", "products/t00ls", ""},
		{"hello/{name=world}", "hello", "name=world"},
		{"hello/{name=world}", "hello/you", "name=you"},
		{"files/{*rest}", "files/a/b/c.txt", "rest=a/b/c.txt"},
		{"files/{*rest}", "files", "rest=<nil>"},
		{"files/{name}.{ext}", "files/report.v2.pdf", "ext=v2.pdf name=report"},
		{"files/{name}.{ext}", "files/report", ""},
		{"b/{v:bool}", "b/TRUE", "v=TRUE"},
		{"b/{v:bool}", "b/yes", ""},
		{"g/{v:guid}", "g/0f8fad5b-d9cb-469f-a165-70867728950e", "v=0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"g/{v:guid}", "g/0f8fad5b", ""},
		{"d/{v:double}", "d/1.5e3", "v=1.5e3"},
		{"d/{v:decimal}", "d/-12.50", "v=-12.50"},
		{"d/{v:decimal}", "d/1e3", ""},
		{"t/{v:datetime}", "t/2024-11-19T19:12:32Z", "v=2024-11-19T19:12:32Z"},
		{"t/{v:datetime}", "t/yesterday", ""},
		{"n/{v:min(10)}", "n/10", "v=10"},
		{"n/{v:min(10)}", "n/9", ""},
		{"n/{v:max(10)}", "n/11", ""},
		{"n/{v:range(1,3)}", "n/3", "v=3"},
		{"n/{v:range(1,3)}", "n/4", ""},
		{"s/{v:length(3)}", "s/abc", "v=abc"},
		{"s/{v:length(3)}", "s/abcd", ""},
		{"s/{v:length(2,3)}", "s/ab", "v=ab"},
		{"s/{v:minlength(2)}", "s/a", ""},
		{"s/{v:maxlength(2)}", "s/abc", ""},
		{"s/{v:int:min(5)}", "s/7", "v=7"},
		{"s/{v:int:min(5)}", "s/3", ""},
		{`ssn/{v:regex(^\d{{3}}-\d{{2}}-\d{{4}}$)}`, "ssn/123-45-6789", "v=123-45-6789"},
		{`ssn/{v:regex(^\d{{3}}-\d{{2}}-\d{{4}}$)}`, "ssn/12-345-6789", ""},
		{"e/{v}", "e/a%20b", "v=a b"},
		{"e/{v}", "e/a%2Fb", "v=a/b"},
		{"", "", "-"},
	} {
		r, err := parseRoute(tc.tmpl)
		if err != nil {
			t.Errorf("parseRoute(%q): %v", tc.tmpl, err)
			continue
		}
		m, ok := r.match(tc.path)
		got := ""
		if ok {
			got = showParams(m)
			if got == "" {
				got = "-"
			}
		}
		if got != tc.want {
			t.Errorf("%q ~ %q: got %q, want %q", tc.tmpl, tc.path, got, tc.want)
		}
	}
}

func TestRouteErrors(t *testing.T) {
	for tmpl, want := range map[string]string{
		"a/{id":          "incomplete parameter",
		"a/id}":          "incomplete parameter",
		"a//b":           "cannot appear consecutively",
		"a/{id}/{ID}":    "appears more than one time",
		"{*rest}/a":      "catch-all parameter can only appear as the last segment",
		"{id?}/a":        "optional parameter must be at the end",
		"{a}{b}":         "two consecutive parameters",
		"{1a}":           "is invalid",
		"{a:int(3)}":     "takes no argument",
		"{a:min(x)}":     "needs an integer argument",
		"{a:range(5,1)}": "needs two integer arguments",
		"{a:regex(()}":   "does not compile",
		"{a:what}":       "does not know the constraint 'what'",
		"{*a?}":          "catch-all parameter cannot be marked optional",
		"{a}.{b=x}":      "cannot contain a catch-all or default parameter",
		"x?":             "cannot contain '?'",
	} {
		_, err := parseRoute(tmpl)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRoute(%q) = %v, want %q", tmpl, err, want)
		}
	}
}

// Precedence: a literal beats a parameter, a constrained parameter beats a plain one, and a
// catch-all comes last, whatever the order of the functions.
func TestRoutePrecedence(t *testing.T) {
	var fns []*function
	for i, tmpl := range []string{"items/{*rest}", "items/{id}", "items/{id:int}", "items/new"} {
		r, err := parseRoute(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		fns = append(fns, &function{Function: Function{Name: fmt.Sprint(i)}, route: r})
	}
	sortRoutes(fns)
	var order []string
	for _, f := range fns {
		order = append(order, f.route.template)
	}
	if got := strings.Join(order, " "); got != "items/new items/{id:int} items/{id} items/{*rest}" {
		t.Errorf("order %s", got)
	}
}
