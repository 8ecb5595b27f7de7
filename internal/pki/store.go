package pki

import (
	"context"
	"time"
)

// CARecord is the installation's root CA as stored.
type CARecord struct {
	CertDER   []byte
	SealedKey []byte // PKCS#8, sealed with AD {Table: "ca", ID: "root", Purpose: "private-key"}
	KEKID     string
	Created   time.Time
}

// Store is what the CA needs from storage.
type Store interface {
	// GetCA returns errs.NotFound when no CA exists yet.
	GetCA(ctx context.Context) (CARecord, error)
	// CreateCA inserts the CA; errs.Conflict if one exists (another replica won the race:
	// read it with GetCA).
	CreateCA(ctx context.Context, ca CARecord) error
}
