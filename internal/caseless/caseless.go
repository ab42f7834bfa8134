// Package caseless gives the key by which names are compared ignoring
// case and Unicode normalisation, as people compare them: "Café" typed on
// a keyboard (é composed, U+00E9) and "CAFE\u0301" as macOS may store a
// file name (E and a combining accent) are one name.
package caseless

import (
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Key maps s to its canonical caseless form (Unicode §3.13, D145:
// decompose, case-fold, decompose again; recomposed here so keys stay
// short): strings equal ignoring case and normalisation have one key.
// Case folding alone keeps composed and decomposed accents apart and,
// where accents are out of canonical order, folds two forms of one name
// apart (ᾴ, U+1FB4, and α, U+0345, U+0301): hence decomposing first.
// Text that is not UTF-8 is its own key: its invalid bytes would all
// fold to U+FFFD and make unlike names one.
func Key(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	// A Caser keeps state: each call takes its own, so Key is safe for
	// concurrent use.
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(s)))
}
