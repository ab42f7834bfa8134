package latin1

import "testing"

func TestToUTF8(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Beyoncé", "Beyoncé"},         // UTF-8 as it is
		{"Beyonc\xe9", "Beyoncé"},      // Latin-1 é
		{"Beyonc\xe8", "Beyoncè"},      // apart from è
		{"Café \xe9t\xe9", "Café été"}, // UTF-8 and Latin-1 glued together
		{"\xff\xfe", "ÿþ"},             // bytes that never start UTF-8
		{"\xe2\x82", "â\u0082"},        // a cut UTF-8 sequence, byte by byte
		{"", ""},
	} {
		if got := ToUTF8(c.in); got != c.want {
			t.Errorf("ToUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
