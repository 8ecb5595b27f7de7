package token

import "crypto"

// SetKeyGenerator makes s generate its private keys with gen, so tests get fixed keys.
func SetKeyGenerator(s *Service, gen func(alg string) (crypto.Signer, error)) { s.generateKey = gen }

// ForgetVerified empties s's cache of verified tokens, so that a benchmark measures a first sight.
func ForgetVerified(s *Service) {
	s.verified.mu.Lock()
	clear(s.verified.m)
	s.verified.mu.Unlock()
}
