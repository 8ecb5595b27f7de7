package seal

import (
	"context"
	"fmt"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// rotateBatch is how many sealed values Rotate asks the store for at a time.
const rotateBatch = 100

// maxConflicts is how many times in one run a value may change under Rotate (another server
// rewriting it) before Rotate gives up on it.
const maxConflicts = 3

// Rotate rewraps the data key of every sealed value that is not yet under to, from from to to.
// It is resumable: values already under to are not touched, so a run that was interrupted is
// finished by running it again. A value under neither from nor to is an error that names it.
// log, if not nil, is called after each batch with the number of values rewrapped so far and the
// number there were to rewrap. Rotate returns how many values it rewrapped.
func Rotate(ctx context.Context, st RotateStore, from, to *KEK, log func(done, total int)) (int, error) {
	if from == nil || to == nil {
		return 0, errs.E(errs.Invalid, "rotation needs both the old and the new key-encryption key")
	}
	if from.ID() == to.ID() {
		return 0, errs.E(errs.Invalid, "the old and new key-encryption keys are the same (%s)", to.ID())
	}
	total, err := st.CountSealedNotUnder(ctx, to.ID())
	if err != nil {
		return 0, fmt.Errorf("counting sealed values to rotate: %w", err)
	}
	done := 0
	conflicts := map[[2]string]int{}
	for {
		batch, err := st.ListSealedNotUnder(ctx, to.ID(), rotateBatch)
		if err != nil {
			return done, fmt.Errorf("listing sealed values to rotate: %w", err)
		}
		if len(batch) == 0 {
			return done, nil
		}
		for _, s := range batch {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			ad := AD{Table: s.Table, ID: s.ID, Purpose: s.Purpose}
			blobID, err := BlobKEKID(s.Blob)
			if err != nil {
				return done, fmt.Errorf("rotating %s %s (%s): %w", s.Table, s.ID, s.Purpose, err)
			}
			var newBlob []byte
			switch blobID {
			case to.ID():
				// Already rewrapped, only the recorded KEK id is stale.
				newBlob = s.Blob
			case from.ID():
				if newBlob, err = from.Rewrap(s.Blob, ad, to); err != nil {
					return done, fmt.Errorf("rotating %s %s (%s): %w", s.Table, s.ID, s.Purpose, err)
				}
			default:
				return done, &errs.Error{Kind: errs.Invalid, Err: ErrWrongKEK,
					Msg: fmt.Sprintf("%s %s (%s) is sealed under key-encryption key %s, which is neither the old key %s nor the new key %s", s.Table, s.ID, s.Purpose, blobID, from.ID(), to.ID())}
			}
			err = st.ReplaceSealed(ctx, s, newBlob, to.ID())
			if errs.Is(err, errs.NotFound) {
				continue // deleted since it was listed: nothing left to rotate
			}
			if errs.Is(err, errs.Conflict) {
				// Changed since it was listed: it is listed again if it still needs rotating.
				key := [2]string{s.Table, s.ID + "\x00" + s.Purpose}
				if conflicts[key]++; conflicts[key] >= maxConflicts {
					return done, errs.Wrap(errs.Conflict, err, fmt.Sprintf("%s %s (%s) keeps changing during rotation", s.Table, s.ID, s.Purpose))
				}
				continue
			}
			if err != nil {
				return done, fmt.Errorf("rotating %s %s (%s): %w", s.Table, s.ID, s.Purpose, err)
			}
			done++
		}
		if log != nil {
			log(done, max(total, done))
		}
	}
}
