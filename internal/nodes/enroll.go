package nodes

import (
	"context"
	"crypto/x509"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// errJoinRefused is the one answer to a join token that is unknown, expired or used: which of
// these it was goes to the audit log, not to the caller.
var errJoinRefused = &errs.Error{Kind: errs.Unauthenticated, Code: "invalid_join_token",
	Msg: "the join token is unknown, expired or already used: create a new one with 'lanyard node join-token create'"}

// refused audits a refused enrollment: in the server's aggregate of unidentified callers' refusals
// when the request came through its guard (a flood of bad join tokens costs the audit log two
// events a window per source, with the reasons), else as an event of its own.
func (s *Service) refused(ctx context.Context, actor, target, reason string) {
	if !httpx.NoteRefusal(ctx, "node.enroll "+target+": "+reason) {
		s.record(ctx, actor, "node.enroll", target, audit.Denied, reason)
	}
}

// Enroll checks the join token, makes sure the node's machine resource exists, consumes the
// token and signs the node's first client certificate. A refused token is audited.
func (s *Service) Enroll(ctx context.Context, req agentapi.EnrollRequest) (agentapi.EnrollResponse, error) {
	tok := string(req.JoinToken)
	actor := "join-token"
	if !strings.HasPrefix(tok, joinTokenPrefix) || len(tok) > 128 {
		s.refused(ctx, actor, "node/"+clip(req.NodeName), "malformed join token")
		return agentapi.EnrollResponse{}, errJoinRefused
	}
	hash := hashJoinToken(tok)
	jt, err := s.Store.GetJoinToken(ctx, hash)
	now := s.now()
	reason := ""
	switch {
	case errs.Is(err, errs.NotFound):
		reason = "unknown join token"
	case err != nil:
		return agentapi.EnrollResponse{}, err
	case !jt.Used.IsZero():
		reason = "join token already used at " + jt.Used.UTC().Format("2006-01-02T15:04:05Z")
	case !now.Before(jt.Expires):
		reason = "join token expired at " + jt.Expires.UTC().Format("2006-01-02T15:04:05Z")
	}
	if reason != "" {
		target := "node/" + clip(req.NodeName)
		if jt.NodeName != "" {
			target = "node/" + jt.NodeName
		}
		s.refused(ctx, actor, target, reason)
		return agentapi.EnrollResponse{}, errJoinRefused
	}
	// The token names the node; the name the agent goes by (its host name unless configured) is
	// only recorded.
	detail := "node " + jt.NodeName
	if req.NodeName != "" && !strings.EqualFold(req.NodeName, jt.NodeName) {
		detail += " (the agent calls itself " + clip(req.NodeName) + ")"
	}
	if _, err := x509.ParseCertificateRequest(req.CSR); err != nil {
		return agentapi.EnrollResponse{}, &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "the certificate request does not parse: " + clip(err.Error())}
	}
	machine, err := s.Machines(ctx, jt.TenantID, jt.NodeName)
	if err != nil {
		return agentapi.EnrollResponse{}, err
	}
	u, err := uuid.NewRandomFromReader(s.rand())
	if err != nil {
		return agentapi.EnrollResponse{}, errs.Wrap(errs.Internal, err, "node id")
	}
	id := u.String()
	der, err := s.Signer.SignClientCSR(req.CSR, CertPrefix+id, s.certLifetime())
	if err != nil {
		return agentapi.EnrollResponse{}, err
	}
	n := Node{ID: id, TenantID: jt.TenantID, Name: jt.NodeName, MachineID: machine.ID, Created: now, Renewed: now}
	if err := s.Store.EnrollNode(ctx, hash, now, n); err != nil {
		if errs.Is(err, errs.Denied) {
			s.record(ctx, actor, "node.enroll", "node/"+jt.NodeName, audit.Denied, "join token used concurrently")
			return agentapi.EnrollResponse{}, errJoinRefused
		}
		return agentapi.EnrollResponse{}, err
	}
	s.record(ctx, CertPrefix+id, "node.enroll", machine.ID, audit.Success, detail)
	return agentapi.EnrollResponse{Certificate: s.chainPEM(der), NodeID: id, NodeName: jt.NodeName, MachineResourceID: machine.ID, TenantID: jt.TenantID}, nil
}

// Renew signs a new client certificate for an enrolled node, with the subject it was given at
// enrollment, whatever the request asks for.
func (s *Service) Renew(ctx context.Context, n Node, req agentapi.RenewRequest) (agentapi.RenewResponse, error) {
	der, err := s.Signer.SignClientCSR(req.CSR, CertPrefix+n.ID, s.certLifetime())
	if err != nil {
		return agentapi.RenewResponse{}, err
	}
	if err := s.Store.TouchNode(ctx, n.ID, s.now()); err != nil {
		return agentapi.RenewResponse{}, err
	}
	return agentapi.RenewResponse{Certificate: s.chainPEM(der)}, nil
}
