package agentapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	req := EnrollRequest{JoinToken: "jt-very-secret", CSR: []byte{1, 2}, NodeName: "n1"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("enroll", "token", req.JoinToken, "req", req)
	for _, s := range []string{fmt.Sprint(req), fmt.Sprintf("%+v %#v %s %q", req, req, req.JoinToken, req.JoinToken), logged.String()} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("the join token printed: %s", s)
		}
	}
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"joinToken":"jt-very-secret","csr":"AQI=","nodeName":"n1"}`; string(raw) != want {
		t.Errorf("JSON %s, want %s", raw, want)
	}
	var back EnrollRequest
	if err := json.Unmarshal(raw, &back); err != nil || back.JoinToken != req.JoinToken {
		t.Errorf("round trip: %v %v", err, back.JoinToken == req.JoinToken)
	}
}
