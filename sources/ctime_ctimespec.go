//go:build darwin || freebsd || netbsd

package sources

import "syscall"

// changeTime is the status-change time of st, in nanoseconds.
func changeTime(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
