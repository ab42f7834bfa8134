// Package latin1 reads text that should be UTF-8 but may hold Latin-1
// bytes: titles sent by old HTTP stacks, file names from old archives.
package latin1

import (
	"strings"
	"unicode/utf8"
)

// ToUTF8 returns s with each byte that is not part of valid UTF-8 read as
// the Latin-1 character of the same value. Only those bytes are read so: a
// name glued together from a UTF-8 part and a Latin-1 part keeps both,
// where reading every byte as Latin-1 would garble the first. Names that
// differ in such bytes stay apart, which U+FFFD, the usual replacement,
// would make one.
func ToUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = rune(s[i])
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}
