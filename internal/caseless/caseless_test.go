package caseless

import "testing"

// Names equal ignoring case and form have one key, even where case
// folding moves an accent (U+0345 folds to ι), and others do not.
func TestKey(t *testing.T) {
	for _, p := range [][2]string{
		{"CAF\u00c9.wav", "cafe\u0301.wav"},
		{"\u1fb4", "\u03b1\u0345\u0301"}, // ᾴ, its accents out of canonical order
		{"\u1fb4", "\u0391\u0301\u0345"}, // capital alpha
		{"Stra\u00dfe", "STRASSE"},
		{"\u00c9dith Piaf", "e\u0301DITH piaf"},
	} {
		if a, b := Key(p[0]), Key(p[1]); a != b {
			t.Errorf("Key(%+q) = %+q, Key(%+q) = %+q; want one key", p[0], a, p[1], b)
		}
	}
	for _, p := range [][2]string{
		{"caf\u00e9", "Cafe"},       // accents are not case
		{"a\xffb", "a\xfeb"},        // invalid bytes are not all U+FFFD
		{"Beyonc\u00e9", "Beyonce"}, // nor is a dropped accent
	} {
		if Key(p[0]) == Key(p[1]) {
			t.Errorf("%+q and %+q have one key", p[0], p[1])
		}
	}
}
