package server

import (
	"context"
	"github.com/lanyardhq/lanyard/internal/appservice"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// NodesGroup is the resource group, in each tenant's default subscription, that holds the
// machine resources of enrolled nodes.
const NodesGroup = "lanyard-nodes"

// nodesLocation is the location of NodesGroup and of the machines in it.
const nodesLocation = "local"

// openNodes builds the agent API's service. It runs after openManagement.
func (s *Server) openNodes() {
	s.Nodes = &nodes.Service{
		Store: s.DB, Signer: s.CA, Machines: s.ensureMachine, Mint: minter{s}.MintFor, Audit: s.Audit, Log: s.log,
		Now: s.now, Rand: s.rand, DefaultTenant: func() string { return s.Default.ID }, SiteDomain: siteDomain,
		Apps: s.Apps, SandboxCAPEM: s.SandboxCA.CertPEM,
	}
	if s.DB.Notifies() {
		s.Nodes.PollInterval = notifiedPoll // changes.go
	}
	if s.Apps != nil { // a site's log stream asks the node's agent through the agent API
		s.Apps.FollowLog = func(tenantID, actor, node, app, after string, tail int) (appservice.LogStream, error) {
			ls, err := s.Nodes.FollowLog(tenantID, actor, node, app, after, tail)
			if err != nil {
				return nil, err
			}
			return ls, nil
		}
	}
}

// enrollment is the principal the server acts as when it makes a node's machine resource.
var enrollment = authn.Principal{Admin: true, Actor: "system:node-enrollment"}

// ensureMachine makes sure the machine resource of node name exists in the tenant's default
// subscription, with its system-assigned identity on.
func (s *Server) ensureMachine(ctx context.Context, tenantID, name string) (resources.Resource, error) {
	ctx = authn.WithPrincipal(ctx, enrollment)
	sub, err := s.Resources.EnsureDefaultSubscription(ctx, tenantID)
	if err != nil {
		return resources.Resource{}, err
	}
	if _, err := s.Resources.GetGroup(ctx, enrollment, tenantID, sub.ID, NodesGroup); errs.Is(err, errs.NotFound) {
		loc := nodesLocation
		if _, _, err := s.Resources.PutGroup(ctx, enrollment, tenantID, sub.ID, NodesGroup, resources.GroupInput{Location: &loc}, false); err != nil {
			return resources.Resource{}, err
		}
	} else if err != nil {
		return resources.Resource{}, err
	}
	id, err := arm.Parse("/subscriptions/" + sub.ID + "/resourceGroups/" + NodesGroup + "/providers/" + resources.TypeMachine + "/" + name)
	if err != nil {
		return resources.Resource{}, errs.Wrap(errs.Invalid, err, "node name "+name)
	}
	cur, err := s.Resources.Get(ctx, enrollment, tenantID, id)
	switch {
	case err == nil && cur.SystemAssigned:
		return cur, nil
	case err == nil:
		// Turn the system-assigned identity on (a machine has no other kind).
		in := resources.ResourceInput{Identity: &resources.IdentityInput{Type: resources.IdentitySystem}}
		r, _, err := s.Resources.Put(ctx, enrollment, tenantID, id, in, true)
		return r, err
	case !errs.Is(err, errs.NotFound):
		return resources.Resource{}, err
	}
	loc := nodesLocation
	r, _, err := s.Resources.Put(ctx, enrollment, tenantID, id, resources.ResourceInput{
		Location: &loc, Identity: &resources.IdentityInput{Type: resources.IdentitySystem},
		Tags: map[string]string{"lanyard-node": strings.ToLower(name)}, TagsGiven: true,
	}, false)
	return r, err
}
