package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// keyPrefix marks songflow API keys so they are recognisable in config
// files and secret scanners.
const keyPrefix = "sf_"

// APIKey describes an API key. The key itself is never stored: only its
// SHA-256, which is enough because keys are 256 random bits and so cannot
// be guessed from their hash.
type APIKey struct {
	ID        int64
	Name      string
	Prefix    string // the key's first characters, to tell keys apart in listings
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

func hashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateKey makes a new API key called name and returns it in full; this is
// the only time the full key is available.
func (s *Store) CreateKey(ctx context.Context, name string) (secret string, k APIKey, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("store: create key: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	k = APIKey{Name: name, Prefix: secret[:len(keyPrefix)+6], CreatedAt: s.now().UTC()}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return "", APIKey{}, s.errorf("create key: %w", err)
	}
	defer unlock()
	err = s.db.QueryRowContext(ctx, `INSERT INTO api_keys (name, prefix, hash, created_at)
		VALUES (?, ?, ?, ?) RETURNING id`,
		name, k.Prefix, hashKey(secret), k.CreatedAt.Format(timeLayout)).Scan(&k.ID)
	if err != nil {
		return "", APIKey{}, s.errorf("create key: %w", err)
	}
	return secret, k, nil
}

func scanKey(row scanner) (APIKey, error) {
	var (
		k       APIKey
		created string
		revoked sql.NullString
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &created, &revoked); err != nil {
		return APIKey{}, err
	}
	var err error
	if k.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
		return APIKey{}, fmt.Errorf("key %d: created_at: %w", k.ID, err)
	}
	if revoked.Valid {
		if k.RevokedAt, err = time.Parse(timeLayout, revoked.String); err != nil {
			return APIKey{}, fmt.Errorf("key %d: revoked_at: %w", k.ID, err)
		}
	}
	return k, nil
}

// Keys lists every API key, revoked ones included, oldest first.
func (s *Store) Keys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, s.errorf("list keys: %w", err)
	}
	keys, err := collect(rows, scanKey)
	if err != nil {
		return nil, s.errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes the key whose id (decimal) or prefix is ref, returning
// ErrNotFound when no valid key matches and an error when a prefix matches
// more than one.
func (s *Store) RevokeKey(ctx context.Context, ref string) (APIKey, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return APIKey{}, err
	}
	var match []APIKey
	id, idErr := strconv.ParseInt(ref, 10, 64)
	for _, k := range keys {
		if k.Revoked() {
			continue
		}
		if (idErr == nil && k.ID == id) || (ref != "" && strings.HasPrefix(k.Prefix, ref)) {
			match = append(match, k)
		}
	}
	switch len(match) {
	case 0:
		return APIKey{}, fmt.Errorf("store: revoke %q: %w", ref, ErrNotFound)
	case 1:
	default:
		return APIKey{}, fmt.Errorf("store: revoke %q: matches %d keys", ref, len(match))
	}
	k := match[0]
	k.RevokedAt = s.now().UTC()
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return APIKey{}, s.errorf("revoke %q: %w", ref, err)
	}
	defer unlock()
	// The key may have been revoked since it was listed, by another
	// process: that revocation stands, and this one did nothing.
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		k.RevokedAt.Format(timeLayout), k.ID)
	if err != nil {
		return APIKey{}, s.errorf("revoke %q: %w", ref, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return APIKey{}, fmt.Errorf("store: revoke %q: %w", ref, ErrNotFound)
	}
	return k, nil
}

// ErrKeyRevoked is returned by CheckKey for a key that was valid once.
var ErrKeyRevoked = errors.New("store: API key revoked")

// CheckKey looks up the key a client presented: ErrNotFound when it was
// never issued, ErrKeyRevoked when it has been revoked.
func (s *Store) CheckKey(ctx context.Context, secret string) (APIKey, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE hash = ?`, hashKey(secret))
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, s.errorf("check key: %w", err)
	}
	if k.Revoked() {
		return k, ErrKeyRevoked
	}
	return k, nil
}
