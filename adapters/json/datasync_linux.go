package json

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's data durable with fdatasync: unlike fsync it skips
// the timestamps, so a write over blocks already on disk needs no journal
// commit. A write that grows the file still commits the new size.
func datasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}
