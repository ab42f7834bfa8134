//go:build !unix

package sources

import "io/fs"

// Identity returns "": this system's os.FileInfo carries no inode or
// status-change time (Windows has a file index, but only through an open
// handle, too dear for every file of every scan), so a file replaced by
// another with the same size and modification time is not noticed here.
func Identity(fi fs.FileInfo) string { return "" }
