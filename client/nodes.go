package client

import (
	"context"
	"net/url"
	"time"
)

// JoinToken is a node's single-use join token, as POST /admin/v1/nodes/join-tokens answers it.
// Token is shown once: the server keeps only its hash.
type JoinToken struct {
	Token     string    `json:"token"`
	Node      string    `json:"node"`
	TenantID  string    `json:"tenantId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Node is an enrolled node.
type Node struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	TenantID            string    `json:"tenantId"`
	MachineResourceID   string    `json:"machineResourceId"`
	EnrolledAt          time.Time `json:"enrolledAt"`
	CertificateIssuedAt time.Time `json:"certificateIssuedAt"`
}

// CreateJoinToken makes a single-use join token for the node name; ttl is a Go duration ("" for
// the server's default, 15m).
func (c *Client) CreateJoinToken(ctx context.Context, name, ttl string) (JoinToken, error) {
	var out JoinToken
	err := c.Do(ctx, "POST", "/admin/v1/nodes/join-tokens", map[string]string{"name": name, "ttl": ttl}, &out)
	return out, err
}

// ListNodes lists the enrolled nodes.
func (c *Client) ListNodes(ctx context.Context) ([]Node, error) {
	var out struct {
		Value []Node `json:"value"`
	}
	err := c.Do(ctx, "GET", "/admin/v1/nodes", nil, &out)
	return out.Value, err
}

// DeleteNode forgets the node (its machine resource stays): its certificates are no longer
// accepted.
func (c *Client) DeleteNode(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE", "/admin/v1/nodes/"+url.PathEscape(name), nil, nil)
}
