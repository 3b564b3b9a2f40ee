package roomlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrDirInUse is the error Open returns, wrapped with the directory and the
// holder's process id, when another Log (in this process or another) has
// the directory open.
var ErrDirInUse = errors.New("directory in use by another poolchat")

// lockName is the file in Dir whose advisory lock marks the directory as
// taken. The lock, not the file, is what counts: the operating system drops
// it when its holder exits, however it exits, so a stale file is harmless.
const lockName = "poolchat.lock"

// errLocked is what the platform's tryLock returns when someone else holds
// the lock.
var errLocked = errors.New("locked")

// dirLock is an exclusive advisory lock on a file in a directory.
type dirLock struct {
	f *os.File
}

// lockDir takes dir's lock without waiting, and writes this process's id
// into the lock file so that a refused Open can name the holder.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%w: %s%s", ErrDirInUse, dir, holder(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		f.WriteAt(pid, 0) // only to name the holder in an error; not needed for the lock
	}
	return &dirLock{f: f}, nil
}

// holder returns " (pid N)" naming the process that wrote path, or "" when
// path does not say.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", pid)
}

// release drops the lock. The lock file stays: removing it would let a
// process that has just opened it lock a file nobody else can see.
func (l *dirLock) release() error {
	uerr := unlock(l.f)
	cerr := l.f.Close()
	return errors.Join(uerr, cerr)
}
