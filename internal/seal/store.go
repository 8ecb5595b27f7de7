package seal

import "context"

// Sealed is one sealed value as stored: where it lives (which is also its associated data), the
// id of the KEK that wraps its data key, and the sealed bytes.
type Sealed struct {
	Table, ID, Purpose string
	KEKID              string
	Blob               []byte
}

// RotateStore is what KEK rotation needs from storage: every sealed value in every table.
type RotateStore interface {
	// ListSealedNotUnder returns up to limit sealed values whose KEKID is not kekID.
	ListSealedNotUnder(ctx context.Context, kekID string, limit int) ([]Sealed, error)
	// ReplaceSealed writes newBlob/newKEKID for the value s names, only if its blob is still
	// s.Blob (errs.Conflict otherwise).
	ReplaceSealed(ctx context.Context, s Sealed, newBlob []byte, newKEKID string) error
	// CountSealedNotUnder counts sealed values whose KEKID is not kekID.
	CountSealedNotUnder(ctx context.Context, kekID string) (int, error)
}
