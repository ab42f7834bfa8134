package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Counter is a named running total kept in the database so that the
// server's statistics survive restarts.
type Counter struct {
	Value     int64
	UpdatedAt time.Time // zero when never incremented
}

// Add adds delta to the named counter, creating it at zero first.
func (s *Store) Add(ctx context.Context, name string, delta int64) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return s.errorf("add %s: %w", name, err)
	}
	defer unlock()
	_, err = s.db.ExecContext(ctx, `INSERT INTO counters (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value, updated_at = excluded.updated_at`,
		name, delta, s.now().UTC().Format(timeLayout))
	if err != nil {
		return s.errorf("add %s: %w", name, err)
	}
	return nil
}

// Counter returns the named counter; one never added to is zero.
func (s *Store) Counter(ctx context.Context, name string) (Counter, error) {
	var (
		c  Counter
		at string
	)
	err := s.db.QueryRowContext(ctx, `SELECT value, updated_at FROM counters WHERE name = ?`, name).Scan(&c.Value, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Counter{}, nil
	}
	if err != nil {
		return Counter{}, s.errorf("counter %s: %w", name, err)
	}
	if c.UpdatedAt, err = time.Parse(timeLayout, at); err != nil {
		return Counter{}, s.errorf("counter %s: updated_at %q: %w", name, at, err)
	}
	return c, nil
}
