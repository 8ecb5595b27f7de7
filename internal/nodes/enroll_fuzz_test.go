package nodes

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// joinStore knows one unused join token, "lyj_valid", and one used one, "lyj_used".
type joinStore struct{ Store }

func (joinStore) GetJoinToken(_ context.Context, hash string) (JoinToken, error) {
	switch hash {
	case hashJoinToken("lyj_valid"):
		return JoinToken{TenantID: "t", NodeName: "node1", Expires: time.Now().Add(time.Hour)}, nil
	case hashJoinToken("lyj_used"):
		return JoinToken{TenantID: "t", NodeName: "node1", Expires: time.Now().Add(time.Hour), Used: time.Now()}, nil
	}
	return JoinToken{}, errs.E(errs.NotFound, "no such join token")
}

var errStop = errors.New("the fuzz stops at the machine")

// FuzzEnroll: the enrollment request is the one agent API call made without a certificate: its
// join token, node name and certificate request are outside input. Enroll does not panic; any
// token but the one valid token is refused with the one vague answer; a valid token with a
// request that does not parse is Invalid; nothing is signed before the machine exists.
func FuzzEnroll(f *testing.F) {
	s := &Service{Store: joinStore{}, Machines: func(context.Context, string, string) (resources.Resource, error) {
		return resources.Resource{}, errStop
	}}
	for _, tok := range []string{"lyj_valid", "lyj_used", "lyj_", "", "lyj_valid\x00", "LYJ_valid"} {
		f.Add(tok, "node1", []byte{0x30, 0x03, 0x02, 0x01, 0x00})
	}
	f.Fuzz(func(t *testing.T, tok, name string, csr []byte) {
		_, err := s.Enroll(context.Background(), agentapi.EnrollRequest{JoinToken: agentapi.Secret(tok), NodeName: name, CSR: csr})
		switch {
		case err == nil:
			t.Fatalf("token %q enrolled without a machine", tok)
		case tok != "lyj_valid":
			if err != errJoinRefused {
				t.Fatalf("token %q: %v, want the one refusal", tok, err)
			}
		case errors.Is(err, errStop):
		case !errs.Is(err, errs.Invalid):
			t.Fatalf("a valid token with a bad request: %v, want Invalid", err)
		}
	})
}
