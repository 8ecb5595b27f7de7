package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"io"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// PrincipalAdmin is the kind of a session opened by a login link from the admin socket: it acts
// as an administrator (Global Administrator and Owner at the root), as the admin socket does.
// Human users, with their own kind and object id, come later.
const PrincipalAdmin = "admin"

// LoginLink is a single-use link that opens a session. Only the hash of its secret is stored.
type LoginLink struct {
	Hash      string // hex SHA-256 of the secret
	TenantID  string
	CreatedBy string // the actor that asked for it
	Created   time.Time
	Expires   time.Time
	Used      time.Time // zero until used
}

// Session is a signed-in browser. Only the hash of its cookie's secret is stored.
type Session struct {
	ID            string // a GUID: the session's public name, the audit actor's suffix
	SecretHash    string // hex SHA-256 of the cookie's secret
	TenantID      string
	PrincipalKind string // PrincipalAdmin
	PrincipalID   string // "" for an administrator
	CreatedBy     string // who made the login link that opened it
	Created       time.Time
	Expires       time.Time
}

// Actor is how audit records name what the session does.
func (s Session) Actor() string { return "console:" + s.ID }

// Store is what the console keeps: login links and sessions.
type Store interface {
	// CreateConsoleLoginLink stores a link; errs.NotFound if its tenant does not exist.
	CreateConsoleLoginLink(ctx context.Context, l LoginLink) error
	// UseConsoleLoginLink marks the link with this hash used and stores s, in one transaction;
	// errs.Denied when the link is unknown, used or expired at now. s.TenantID and s.CreatedBy
	// are taken from the link.
	UseConsoleLoginLink(ctx context.Context, hash string, now time.Time, s Session) (Session, error)
	// GetConsoleSession returns the session whose secret hashes to secretHash; errs.NotFound when
	// there is none (an expired session is returned: the caller decides).
	GetConsoleSession(ctx context.Context, secretHash string) (Session, error)
	// DeleteConsoleSession deletes a session (sign-out); no error when it is gone already.
	DeleteConsoleSession(ctx context.Context, id string) error
	// DeleteExpiredConsole deletes the sessions and links expired before now and returns how many.
	DeleteExpiredConsole(ctx context.Context, now time.Time) (int, error)
}

// secretLen is the length of link and session secrets in bytes.
const secretLen = 32

// newSecret returns a random secret (base64url, no padding) and its hash.
func newSecret(r io.Reader) (secret, hash string, err error) {
	b := make([]byte, secretLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "random")
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret), nil
}

// hashSecret is how secrets are found in the store.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// validSecret reports whether s has the shape of a secret newSecret makes; anything else is
// refused before the store is asked.
func validSecret(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(secretLen) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// csrfToken derives the CSRF token of a session from its cookie's secret: the token is only
// known to a page the session was served, and needs no storage.
func csrfToken(sessionSecret string) string {
	m := hmac.New(sha256.New, []byte(sessionSecret))
	m.Write([]byte("lanyard console csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid compares a submitted token with the session's in constant time.
func csrfValid(sessionSecret, got string) bool {
	want := csrfToken(sessionSecret)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// newGUID returns a random version 4 GUID.
func newGUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", errs.Wrap(errs.Internal, err, "random")
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
