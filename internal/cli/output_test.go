package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// apps is a list as the directory API returns it: keys in the server's order, not sorted.
const apps = `[
 {"displayName":"web <&>","appId":"a1","tags":["x"],"enabled":true,"n":3,"none":null,"api":{"v":1}},
 {"displayName":"api","appId":"a2","tags":[],"enabled":false,"n":4.5,"none":null,"api":{}}
]`

func TestOutput(t *testing.T) {
	for _, tc := range []struct {
		name, format, query, in, want string
	}{
		{"json keeps key order and does not escape HTML", "json", "", apps, `[
  {
    "displayName": "web <&>",
    "appId": "a1",
    "tags": [
      "x"
    ],
    "enabled": true,
    "n": 3,
    "none": null,
    "api": {
      "v": 1
    }
  },
  {
    "displayName": "api",
    "appId": "a2",
    "tags": [],
    "enabled": false,
    "n": 4.5,
    "none": null,
    "api": {}
  }
]
`},
		{"tsv: a line per object, values in key order, nested as JSON", "tsv", "", apps,
			"web <&>\ta1\t[\"x\"]\ttrue\t3\t\t{\"v\":1}\napi\ta2\t[]\tfalse\t4.5\t\t{}\n"},
		{"table: scalar fields of the first object", "table", "", apps, `DisplayName  AppId  Enabled  N    None
-----------  -----  -------  ---  ----
web <&>      a1     true     3
api          a2     false    4.5
`},
		{"query: multi-select hash keeps its order", "json", "[].{z:n, a:displayName}", apps, `[
  {
    "z": 3,
    "a": "web <&>"
  },
  {
    "z": 4.5,
    "a": "api"
  }
]
`},
		{"query then table", "table", "[].{name:displayName, id:appId}", apps, "Name     Id\n-------  --\nweb <&>  a1\napi      a2\n"},
		{"query: an element keeps the server's order", "tsv", "[1]", apps, "api\ta2\t[]\tfalse\t4.5\t\t{}\n"},
		{"query: filter on a list", "tsv", "[?enabled].appId", apps, "a1\n"},
		{"query: list of scalars as a table", "table", "[].appId", apps, "Result\n------\na1\na2\n"},
		{"query: function", "json", "length(@)", apps, "2\n"},
		{"query: projection of a missing field", "json", "[].missing", apps, "[]\n"},
		{"query: null prints nothing", "json", "missing", apps, ""},
		{"query: nested hash", "json", "{count: length(@), first: [0].{id: appId}}", apps, `{
  "count": 2,
  "first": {
    "id": "a1"
  }
}
`},
		{"none", "none", "", apps, ""},
		{"scalar string", "tsv", "", `"x y"`, "x y\n"},
		{"scalar as table", "table", "", `true`, "Result\n------\ntrue\n"},
		{"single object as table", "table", "", `{"id":"1","name":"n","list":[1]}`, "Id  Name\n--  ----\n1   n\n"},
		{"empty list", "table", "", `[]`, ""},
		{"empty list as json", "json", "", `[]`, "[]\n"},
		{"big integers stay exact without a query", "json", "", `{"seq":12345678901234567890}`, "{\n  \"seq\": 12345678901234567890\n}\n"},
		{"table cells are one line", "table", "", `[{"a":"x\ty\nz"}]`, "A\n-----\nx y z\n"},
		{"later rows may lack a column", "table", "", `[{"a":"1","b":"2"},{"a":"3"}]`, "A  B\n-  -\n1  2\n3\n"},
		{"tsv list of lists", "tsv", "", `[[1,"a"],[2,"b"]]`, "1\ta\n2\tb\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := newOutput(tc.format, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := o.print(&b, json.RawMessage(tc.in)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("got\n%s\nwant\n%s\n(%q)", b.String(), tc.want, b.String())
			}
		})
	}
}

func TestOutputGoValues(t *testing.T) {
	o, err := newOutput("tsv", "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	v := []struct {
		ID      string `json:"id"`
		Default bool   `json:"default"`
	}{{"t1", true}, {"t2", false}}
	if err := o.print(&b, v); err != nil {
		t.Fatal(err)
	}
	if b.String() != "t1\ttrue\nt2\tfalse\n" {
		t.Fatalf("%q", b.String())
	}
}

func TestOutputJSONC(t *testing.T) {
	o, err := newOutput("jsonc", "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := o.print(&b, json.RawMessage(`{"a":"s","n":1,"b":null}`)); err != nil {
		t.Fatal(err)
	}
	want := "{\n  " + colorKey + `"a"` + colorReset + ": " + colorString + `"s"` + colorReset + ",\n  " +
		colorKey + `"n"` + colorReset + ": " + colorNumber + "1" + colorReset + ",\n  " +
		colorKey + `"b"` + colorReset + ": " + colorLit + "null" + colorReset + "\n}\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
}

func TestOutputRejects(t *testing.T) {
	if _, err := newOutput("yaml", ""); err == nil || !strings.Contains(err.Error(), "unknown output format") {
		t.Fatalf("format yaml: %v", err)
	}
	if _, err := newOutput("json", "[?"); err == nil || !strings.Contains(err.Error(), "not a JMESPath expression") {
		t.Fatalf("bad query: %v", err)
	}
	o, _ := newOutput("json", "")
	if err := o.print(&bytes.Buffer{}, json.RawMessage(`{"a":`)); err == nil {
		t.Fatal("printed a broken document")
	}
}
