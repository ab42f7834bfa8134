//go:build unix

package sources

import (
	"io/fs"
	"strconv"
	"syscall"
)

// Identity returns a token that tells the file fi describes from another
// file later found under the same name with the same size and
// modification time: `mv new.wav song.wav` and `cp -p` both keep those,
// so only the file's identity shows that its bytes may differ. On unix it
// is the device and inode, which a replacement never shares with the file
// it replaces while both exist, and the status-change time, which no
// program can set, for an inode freed and reused at once. It is "" when
// fi carries no unix stat, leaving size and time to decide.
//
// A device number that changes across remounts (removable and network
// drives) makes every file look replaced once: it costs a re-hash, never a
// wrong result.
func Identity(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	b := make([]byte, 0, 64)
	b = strconv.AppendUint(b, uint64(st.Dev), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, st.Ino, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, changeTime(st), 10)
	return string(b)
}
