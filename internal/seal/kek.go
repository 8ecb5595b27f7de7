package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// KeySize is the size of a KEK in bytes (AES-256).
const KeySize = 32

// idLabel domain-separates the KEK id hash from any other use of SHA-256 over the key.
const idLabel = "lanyard seal kek-id v1\x00"

// KEK is a key-encryption key: it wraps the per-object data keys of sealed values. Its bytes
// never leave the value: String, GoString, Format and LogValue all show its id only.
type KEK struct {
	id    string
	rawID [idSize]byte
	aead  cipher.AEAD
}

// ParseKEK returns the KEK whose bytes are raw, which must be exactly KeySize bytes long. The
// KEK keeps no reference to raw; the caller may clear it.
func ParseKEK(raw []byte) (*KEK, error) {
	if len(raw) != KeySize {
		return nil, errs.E(errs.Invalid, "a key-encryption key must be %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "key-encryption key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "key-encryption key")
	}
	h := sha256.New()
	h.Write([]byte(idLabel))
	h.Write(raw)
	k := &KEK{aead: aead}
	copy(k.rawID[:], h.Sum(nil))
	k.id = hex.EncodeToString(k.rawID[:])
	return k, nil
}

// ParseKEKBase64 parses a KEK given as standard or URL-safe base64 (padded or not) of exactly
// KeySize bytes, as in LANYARD_KEK. Errors never repeat s.
func ParseKEKBase64(s string) (*KEK, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errs.E(errs.Invalid, "the key-encryption key is empty")
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		// base64.CorruptInputError names an offset, never the input.
		return nil, errs.E(errs.Invalid, "the key-encryption key is not valid base64 (%v)", err)
	}
	defer clear(raw)
	if len(raw) != KeySize {
		return nil, errs.E(errs.Invalid, "the key-encryption key decodes to %d bytes, want %d", len(raw), KeySize)
	}
	return ParseKEK(raw)
}

// LoadKEKFile reads a KEK from a file holding exactly KeySize raw bytes. It refuses a file that
// group or others may access. Errors name the path and say what is wrong.
func LoadKEKFile(path string) (*KEK, error) {
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s does not exist", path))
	case errors.Is(err, fs.ErrPermission):
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s is not readable by this user", path))
	case err != nil:
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s cannot be opened", path))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s cannot be read", path))
	}
	if !st.Mode().IsRegular() {
		return nil, errs.E(errs.Invalid, "key-encryption key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, errs.E(errs.Invalid, "key-encryption key file %s has mode %04o: group and others must have no access (chmod 600 %s)", path, perm, path)
	}
	buf := make([]byte, KeySize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		return nil, errs.E(errs.Invalid, "key-encryption key file %s is %d bytes, want exactly %d raw bytes", path, st.Size(), KeySize)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if n != KeySize {
			return nil, errs.E(errs.Invalid, "key-encryption key file %s is %d bytes, want exactly %d raw bytes", path, n, KeySize)
		}
	default:
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s cannot be read", path))
	}
	return ParseKEK(buf[:KeySize])
}

// CreateKEKFile creates a new file at path (which must not exist) holding a fresh KEK of
// KeySize bytes read from rand, with mode 0600, and returns that KEK.
func CreateKEKFile(path string, rand io.Reader) (*KEK, error) {
	raw := make([]byte, KeySize)
	defer clear(raw)
	if _, err := io.ReadFull(rand, raw); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "generating a key-encryption key")
	}
	k, err := ParseKEK(raw)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil, errs.Wrap(errs.Conflict, err, fmt.Sprintf("key-encryption key file %s already exists", path))
	case err != nil:
		return nil, errs.Wrap(errs.Invalid, err, fmt.Sprintf("key-encryption key file %s cannot be created", path))
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, errs.Wrap(errs.Internal, err, fmt.Sprintf("writing key-encryption key file %s", path))
	}
	return k, nil
}

// ID identifies the KEK without revealing it: the hex of the first 8 bytes of SHA-256 over a
// fixed label and the key.
func (k *KEK) ID() string { return k.id }

// String returns the KEK's id, never its bytes.
func (k KEK) String() string { return "kek:" + k.id }

// GoString returns the KEK's id, never its bytes.
func (k KEK) GoString() string { return fmt.Sprintf("&seal.KEK{ID:%q}", k.id) }

// Format prints the KEK's id whatever the verb, so that no verb (%x, %d, %+v ...) can reach the
// key material.
func (k KEK) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, k.GoString())
		return
	}
	io.WriteString(f, k.String())
}

// LogValue makes slog record the KEK's id only.
func (k KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// The display methods have value receivers so that a dereferenced KEK is covered too.
var (
	_ fmt.Stringer   = KEK{}
	_ fmt.GoStringer = KEK{}
	_ fmt.Formatter  = KEK{}
	_ slog.LogValuer = KEK{}
)
