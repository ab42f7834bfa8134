package sources

import (
	"errors"
	"syscall"
)

// watchLimitReached reports whether err is inotify refusing a watch
// because the user's watches number fs.inotify.max_user_watches already,
// which it says as ENOSPC, "no space left on device".
func watchLimitReached(err error) bool { return errors.Is(err, syscall.ENOSPC) }
