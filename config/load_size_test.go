package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// A file past maxFileSize is refused, naming the file and the limit,
// rather than read whole: `--config` given a huge file by mistake (a
// recording, a log, /dev/zero) used to read until memory ran out. A file
// of exactly the limit still loads.
func TestFileTooLarge(t *testing.T) {
	valid := "[analysis]\nhop = 256\n"
	// pad makes a valid file of n bytes: the settings, then a comment.
	pad := func(n int) string {
		return valid + "#" + strings.Repeat("x", n-len(valid)-2) + "\n"
	}
	c, _, err := Load(writeFile(t, pad(maxFileSize)), nil)
	if err != nil || c.Analysis.Hop != 256 {
		t.Fatalf("a file of %d bytes: %v, hop %d; want it loaded", maxFileSize, err, c.Analysis.Hop)
	}
	path := writeFile(t, pad(maxFileSize+1))
	_, _, err = Load(path, nil)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), strconv.Itoa(maxFileSize)) {
		t.Fatalf("a file of %d bytes: %v; want an *Error naming the file and the limit of %d bytes", maxFileSize+1, err, maxFileSize)
	}
}
