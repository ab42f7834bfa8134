package server

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/songflow/songflow/internal/latin1"
)

// headerText decodes a title or artist header. Clients send them three
// ways: raw UTF-8 bytes, percent-encoded UTF-8 (what URL-encoding helpers
// produce) and Latin-1 bytes (what old HTTP stacks produce); RFC 2047
// encoded-words are accepted too. The old server cut such titles at the
// first non-ASCII byte; here every byte is kept.
func headerText(raw string) string {
	s := strings.TrimSpace(raw)
	if strings.HasPrefix(s, "=?") {
		if dec, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
			s = dec
		}
	}
	// Percent-decode only when the result is valid UTF-8: "100% Pure" has
	// no escape and stays as it is.
	if strings.Contains(s, "%") {
		if dec, err := url.PathUnescape(s); err == nil && utf8.ValidString(dec) {
			s = dec
		}
	}
	// Bytes that are not UTF-8 are Latin-1, as old HTTP stacks send them.
	return latin1.ToUTF8(s)
}

// maxNamespace is the longest cache namespace kept.
const maxNamespace = 32

// defaultNamespace is the cache namespace of clients that name none.
const defaultNamespace = "default"

// cleanNamespace keeps the characters [A-Za-z0-9_-] of s, at most 32 of
// them, so a namespace is safe in logs, file names and SQL; empty becomes
// "default".
func cleanNamespace(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() == maxNamespace {
			break
		}
		if r == '_' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return defaultNamespace
	}
	return b.String()
}

// listNamespace reads the namespace of a cache route: "all" (in any
// case) or "*" select every namespace, as the contract has it. "all" is
// judged after cleaning, so a name that would be stored as "all" (such
// as "a.l.l") reads the same way; "*" cleans to nothing and is judged
// before.
func listNamespace(s string) (ns string, all bool) {
	if strings.TrimSpace(s) == "*" {
		return "", true
	}
	ns = cleanNamespace(s)
	if strings.EqualFold(ns, "all") {
		return "", true
	}
	return ns, false
}

// songNamespace reads the namespace a song is to be cached under. The
// names listNamespace reads as every namespace are refused: a song cached
// under "all" could never be listed, searched, exported or cleared apart
// from every other, and one sent under "*" would land in "default",
// which is not what its client asked for either.
func songNamespace(s string) (string, *failure) {
	ns, all := listNamespace(s)
	if all {
		return "", &failure{status: http.StatusBadRequest, code: "invalid_namespace",
			message: fmt.Sprintf(`cache namespace %q is reserved: "all" and "*" select every namespace`, strings.TrimSpace(s))}
	}
	return ns, nil
}

// truthy reports whether a header or field value means yes.
func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "y":
		return true
	}
	return false
}

// flexBool is a JSON boolean that also accepts the strings and numbers
// clients send for flags ("true", "yes", 1).
type flexBool bool

// UnmarshalJSON accepts true/false, numbers and truthy strings; null is
// false (decoding null into a bool succeeds and leaves it false).
func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v bool
	if err := json.Unmarshal(b, &v); err == nil {
		*f = flexBool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexBool(truthy(s))
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*f = n != 0
		return nil
	}
	return fmt.Errorf("not a boolean: %s", b)
}

// flexNumber is an optional JSON number that also accepts the number in
// a string ("174") that clients filling a request from a text field
// send; null and "" leave it unset.
type flexNumber struct{ p *float64 }

// UnmarshalJSON accepts a number, a string holding a finite number, "",
// or null.
func (f *flexNumber) UnmarshalJSON(b []byte) error {
	var p *float64
	if err := json.Unmarshal(b, &p); err == nil {
		f.p = p
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	if s = strings.TrimSpace(s); s == "" {
		f.p = nil
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("not a number: %s", b)
	}
	f.p = &x
	return nil
}
