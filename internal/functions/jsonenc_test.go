package functions

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// appendJSON must mean what encoding/json means: both decode to the same value.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	str := "a \"quoted\" \\ back\nslash\r\t\x00\x1f <html> & \u2028\u2029 é 😀 \xff\xfe end"
	v := map[string]any{
		"Data": map[string]any{
			"req": map[string]any{
				"Url": "http://a/b?c=d", "Method": "GET", "Query": map[string]string{"q": str, "": ""},
				"Headers": map[string][]string{"X-A": {"1", str}, "Empty": {}, "Nil": nil},
				"Params":  map[string]any{"id": "7", "missing": nil}, "Identities": []any{},
				"Other": []any{true, false, nil, 1.5, 42, json.Number("3"), time.Unix(0, 0).UTC(), []string{"x"}, map[string]any{}},
			},
			"nilmap": map[string]any(nil),
		},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": str}},
	}
	got, err := appendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(v)
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	_ = json.Unmarshal(want, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
	}
	if _, err := appendJSON(nil, map[string]any{"bad": make(chan int)}); err == nil {
		t.Error("a value encoding/json refuses was encoded")
	}
}
