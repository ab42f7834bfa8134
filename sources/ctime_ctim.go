//go:build aix || dragonfly || linux || openbsd || solaris

package sources

import "syscall"

// changeTime is the status-change time of st, in nanoseconds.
func changeTime(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }
