package json

import (
	"bufio"
	"bytes"
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The write-ahead log makes a write durable before LightRAG's files are
// rewritten. One log per database folder covers every workspace. The active
// log is walFileName; a flush rotates it to walFileName.<n> and removes the
// rotated segments once every dirty namespace is on disk, so a crash at any
// point replays to the same state.
//
// Layout: an 8-byte magic, then frames of
// [payload length uint32 LE][CRC32C(payload) uint32 LE][payload]
// where the payload is one walEntry as JSON. A short or mismatching frame with
// no valid frame after it is a torn tail from a crash: replay stops there and
// the tail is truncated. Damage followed by a valid frame is corrupt_log.
// A log made from a spare (see startSpare) continues with zeros after its
// last frame; an all-zero header with nothing but zeros after it is the
// clean end of the log (an older proxy reads it as a torn tail,
// with nothing lost).
const (
	walFileName = ".hybridrag-proxy.wal"
	walMagic    = "HRPWAL1\n"
	frameHeader = 8
	// maxFrame bounds one entry so a corrupt length cannot make replay
	// allocate gigabytes; batches are far smaller (request-size limit).
	maxFrame = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Operations recorded in the log. Each entry carries the final state to set,
// so replaying an entry twice, or over a file that already holds it, gives
// the same result.
const (
	opKVPut          = "kv.put"
	opKVDelete       = "kv.delete"
	opKVDrop         = "kv.drop"
	opVectorPut      = "vector.put"
	opVectorDelete   = "vector.delete"
	opVectorDrop     = "vector.drop"
	opGraphNodes     = "graph.nodes"
	opGraphEdges     = "graph.edges"
	opGraphDelNodes  = "graph.delete_nodes"
	opGraphDelEdges  = "graph.delete_edges"
	opGraphDrop      = "graph.drop"
	walEntryOverhead = 64
)

// walEntry is one logged write to one namespace file.
type walEntry struct {
	Op        string      `json:"op"`
	Workspace string      `json:"ws,omitempty"`
	Namespace string      `json:"ns"`
	Records   []walRecord `json:"records,omitempty"`
	IDs       []string    `json:"ids,omitempty"`
	Vectors   []walVector `json:"vectors,omitempty"`
	Nodes     []walNode   `json:"nodes,omitempty"`
	Edges     []walEdge   `json:"edges,omitempty"`
}

type walRecord struct {
	ID   string             `json:"id"`
	Data stdjson.RawMessage `json:"data"`
}

type walVector struct {
	ID        string             `json:"id"`
	Fields    stdjson.RawMessage `json:"fields"`
	CreatedAt int64              `json:"created_at"`
	// Vector is the caller's un-normalised float32 vector, little-endian
	// (base64 in JSON), so replay rebuilds the row and float16 copy exactly.
	Vector []byte `json:"vector"`
	// Exact marks a copied vector (adapters.Loader) kept as given where
	// LightRAG's format allows (keepExact).
	Exact bool `json:"exact,omitempty"`
	// CreatedAtRaw is a copied vector's exact created_at (a fraction, or
	// null for none), see adapters.VectorRecord.
	CreatedAtRaw stdjson.RawMessage `json:"created_at_raw,omitempty"`
}

type walNode struct {
	ID    string         `json:"id"`
	Props adapters.Props `json:"props"`
}

type walEdge struct {
	Src   string         `json:"src"`
	Tgt   string         `json:"tgt"`
	Props adapters.Props `json:"props"`
}

// kindOfOp maps an operation to the file kind it changes.
func kindOfOp(op string) (fileKind, bool) {
	switch {
	case strings.HasPrefix(op, "kv."):
		return fileKV, true
	case strings.HasPrefix(op, "vector."):
		return fileVector, true
	case strings.HasPrefix(op, "graph."):
		return fileGraph, true
	}
	return 0, false
}

func encodeEntry(e *walEntry) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(frameHeader + walEntryOverhead)
	b.Write(make([]byte, frameHeader))
	enc := stdjson.NewEncoder(&b)
	// Keep <, > and & literal so records replay byte for byte.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode log entry: %w", err)
	}
	frame := b.Bytes()
	payload := frame[frameHeader:]
	if len(payload) > maxFrame {
		return nil, adapters.Errorf(adapters.ErrInvalid, "batch_too_large",
			"send the batch in smaller parts", "log entry of %d bytes exceeds the limit of %d", len(payload), maxFrame)
	}
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, crcTable))
	return frame, nil
}

// wal is the active log file with group commit: writers append frames to a
// buffer under mu; the first writer to wait becomes the leader, writes the
// whole buffer and fsyncs once for everyone queued behind it.
type wal struct {
	dir  string
	mu   sync.Mutex
	cond *sync.Cond
	f    *os.File
	buf  []byte
	// appended/synced count frames; a writer's frame is durable once synced
	// reaches its ticket.
	appended, synced uint64
	syncing          bool
	size             int64 // bytes in the active file plus the buffer
	nextSeg          int   // number for the next rotated segment
	err              error // sticky: after a failed write or fsync nothing is acknowledged
	// The spare is the next active log, written ahead of need as the
	// magic and zeros and fsynced (see startSpare). spareBusy is set
	// while a goroutine prepares it, spareReady once it may be renamed in;
	// spareDone is closed when the preparation ends.
	spareBusy, spareReady bool
	spareDone             chan struct{}
}

func walPath(dir string) string { return filepath.Join(dir, walFileName) }

// spareSuffix names the spare log; walSegments ignores it (not a number).
const spareSuffix = ".next"

func sparePath(dir string) string { return filepath.Join(dir, walFileName+spareSuffix) }

// Spare sizes: the spare is as large as the log it replaces grew (so an
// ingest's writes overwrite zeros instead of growing the file), within
// these bounds.
const (
	minSpare = 1 << 20
	maxSpare = 16 << 20
)

// segments lists the rotated segments in dir, oldest first.
func walSegments(dir string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log segments in %s: %w", dir, err)
	}
	var segs []int
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), walFileName+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			continue
		}
		segs = append(segs, n)
	}
	sort.Ints(segs)
	return segs, nil
}

func segmentPath(dir string, n int) string {
	return filepath.Join(dir, walFileName+"."+strconv.Itoa(n))
}

// readLog reads the entries of one log file, calling apply for each. It
// returns the offset just after the last good frame; anything after it is a
// torn tail. A missing file has no entries.
func readLog(path string, apply func(*walEntry) error) (good int64, torn bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("open log %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("stat log %s: %w", path, err)
	}
	size := info.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	magic := make([]byte, len(walMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		// Empty or torn while being created: nothing was acknowledged.
		return 0, err != io.EOF, nil
	}
	if string(magic) != walMagic {
		return 0, false, adapters.Errorf(adapters.ErrCorrupt, "corrupt_log",
			"move the file away if it is not the proxy's log; acknowledged writes not yet flushed are in it",
			"write-ahead log %s does not start with the proxy's header", path)
	}
	good = int64(len(walMagic))
	hdr := make([]byte, frameHeader)
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return good, err != io.EOF, nil
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		if n == 0 && sum == 0 && zerosFrom(f, good) {
			// The zeros a spare log was written with: the end of the log.
			// Anything else after a zero header is judged as below.
			return good, false, nil
		}
		// A length running past the end of the file is a torn frame; checking
		// it first keeps a corrupt length from allocating up to maxFrame.
		if n == 0 || n > maxFrame || good+frameHeader+int64(n) > size {
			return tornOrDamaged(f, path, good)
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return tornOrDamaged(f, path, good)
		}
		if crc32.Checksum(payload, crcTable) != sum {
			return tornOrDamaged(f, path, good)
		}
		var e walEntry
		if err := stdjson.Unmarshal(payload, &e); err != nil {
			// The checksum matched, so this is not a torn write.
			return good, false, adapters.Errorf(adapters.ErrCorrupt, "corrupt_log",
				"report this as a bug; the log is kept unchanged",
				"write-ahead log %s: entry at offset %d: %v", path, good, err)
		}
		if err := apply(&e); err != nil {
			return good, false, err
		}
		good += int64(frameHeader) + int64(n)
	}
}

// tornOrDamaged decides what a bad frame at offset bad is. A crash can only
// tear the end of the log, so when a complete, valid frame follows the bad
// one the damage is in the middle: acknowledged writes lie behind it, and
// truncating would drop them silently. That stops the folder (corrupt_log)
// with the log untouched; otherwise it is a torn tail.
func tornOrDamaged(f *os.File, path string, bad int64) (int64, bool, error) {
	next, err := nextValidFrame(f, bad+1)
	if err != nil {
		return bad, false, fmt.Errorf("scan log %s past offset %d: %w", path, bad, err)
	}
	if next < 0 {
		return bad, true, nil
	}
	return bad, false, adapters.Errorf(adapters.ErrCorrupt, "corrupt_log",
		"the log is kept unchanged: restore the folder from a backup, or move the log away to start without the writes it holds",
		"write-ahead log %s is damaged at offset %d, before a complete entry at offset %d; acknowledged writes would be lost", path, bad, next)
}

// zerosFrom reports whether f holds only zero bytes from offset off on.
func zerosFrom(f *os.File, off int64) bool {
	buf := make([]byte, 1<<16)
	for {
		n, err := f.ReadAt(buf, off)
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		if err != nil {
			return err == io.EOF
		}
		off += int64(n)
	}
}

// nextValidFrame returns the offset of the first complete frame with a
// matching checksum at or after from, or -1. Payloads are JSON objects, so
// only candidates whose payload starts with '{' are checksummed.
func nextValidFrame(f *os.File, from int64) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return -1, err
	}
	size := info.Size()
	const window = 1 << 20
	buf := make([]byte, window+frameHeader+1)
	for base := from; base+frameHeader < size; base += window {
		m, err := f.ReadAt(buf, base)
		if err != nil && err != io.EOF {
			return -1, err
		}
		for i := 0; i < window && i+frameHeader < m; i++ {
			n := int64(binary.LittleEndian.Uint32(buf[i : i+4]))
			p := base + int64(i)
			if n == 0 || n > maxFrame || p+frameHeader+n > size || buf[i+frameHeader] != '{' {
				continue
			}
			h := crc32.New(crcTable)
			if _, err := io.Copy(h, io.NewSectionReader(f, p+frameHeader, n)); err != nil {
				return -1, err
			}
			if h.Sum32() == binary.LittleEndian.Uint32(buf[i+4:i+8]) {
				return p, nil
			}
		}
	}
	return -1, nil
}

// openWAL opens (creating if needed) the active log for appending after the
// offset good, truncating a torn tail.
func openWAL(dir string, good int64, nextSeg int) (*wal, error) {
	path := walPath(dir)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	w := &wal{dir: dir, f: f, nextSeg: nextSeg}
	w.cond = sync.NewCond(&w.mu)
	if good < int64(len(walMagic)) {
		if err := resetFile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("initialise log %s: %w", path, err)
		}
		good = int64(len(walMagic))
	} else if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate torn tail of log %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync log %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	w.size = good
	return w, nil
}

// startSpare prepares the next active log in the background: the magic and
// size-len(magic) zero bytes, fsynced, its name fsynced in the folder. A
// log whose frames overwrite zeros already on disk is made durable by
// fdatasync without a journal commit for the file's size: a fifth to a third
// off each acknowledged write on ext4 here (docs/BENCHMARKS.md); zeroing on
// the write path instead costs more than it saves. The first spare is made at
// the first write, so a folder that is only read gets none. A failure only
// means the next rotation creates the log as before. Called with mu held.
func (w *wal) startSpare(size int64) {
	if w.spareBusy || w.spareReady {
		return
	}
	w.spareBusy = true
	w.spareDone = make(chan struct{})
	go func() {
		err := writeSpare(w.dir, size)
		w.mu.Lock()
		w.spareBusy = false
		w.spareReady = err == nil
		close(w.spareDone)
		w.mu.Unlock()
	}()
}

func writeSpare(dir string, size int64) error {
	path := sparePath(dir)
	// Remove first, so a symlink planted at the name is replaced, never
	// followed; O_EXCL then creates a file of our own.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	zeros := make([]byte, 256<<10)
	copy(zeros, walMagic)
	for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
		_, err = f.Write(zeros[:min(int64(len(zeros)), size-off)])
		if off == 0 {
			clear(zeros[:len(walMagic)])
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// waitSpare waits for a spare being prepared. Called with mu held.
func (w *wal) waitSpare() {
	for w.spareBusy {
		done := w.spareDone
		w.mu.Unlock()
		<-done
		w.mu.Lock()
	}
}

// resetFile makes f an empty log (magic only) and leaves the offset at its end.
func resetFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(walMagic), 0); err != nil {
		return err
	}
	_, err := f.Seek(int64(len(walMagic)), io.SeekStart)
	return err
}

// append queues a frame and returns its ticket for waitDurable.
func (w *wal) append(frame []byte) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.unavailable()
	}
	w.buf = append(w.buf, frame...)
	w.appended++
	w.size += int64(len(frame))
	if w.appended == 1 {
		w.startSpare(minSpare) // ready for the first rotation
	}
	return w.appended, nil
}

func (w *wal) unavailable() error {
	return &adapters.Error{Kind: adapters.ErrUnavailable, Code: "log_failed",
		Message: "write-ahead log " + walPath(w.dir) + " failed; writes are refused",
		Hint:    "check the disk (space, permissions, errors in the system log) and restart the proxy",
		Err:     w.err}
}

// waitDurable blocks until the frame with this ticket is fsync'd.
func (w *wal) waitDurable(ticket uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.synced < ticket {
		if w.err != nil {
			return w.unavailable()
		}
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncLocked()
	}
	if w.err != nil && w.synced < ticket {
		return w.unavailable()
	}
	return nil
}

// syncLocked writes the buffer and fsyncs, releasing mu during the I/O so
// other writers keep appending (they are the next group).
func (w *wal) syncLocked() {
	w.syncing = true
	buf, target := w.buf, w.appended
	w.buf = nil
	f := w.f
	w.mu.Unlock()
	_, err := f.Write(buf)
	if err == nil {
		err = datasync(f)
	}
	w.mu.Lock()
	w.syncing = false
	if err != nil {
		w.err = fmt.Errorf("write log %s: %w", walPath(w.dir), err)
	} else {
		w.synced = target
	}
	w.cond.Broadcast()
}

// flushAll makes everything appended so far durable.
func (w *wal) flushAll() error {
	w.mu.Lock()
	t := w.appended
	w.mu.Unlock()
	return w.waitDurable(t)
}

// empty reports whether the active log holds no entries.
func (w *wal) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size <= int64(len(walMagic))
}

func (w *wal) bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// rotate moves the active log to a numbered segment and starts an empty
// one. Callers hold the write gate, so no writer is mid-append. It returns
// the segment's number.
func (w *wal) rotate() (int, error) {
	if err := w.flushAll(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.nextSeg
	seg := segmentPath(w.dir, n)
	grew := w.size
	if err := os.Rename(walPath(w.dir), seg); err != nil {
		return 0, fmt.Errorf("rotate log to %s: %w", seg, err)
	}
	w.nextSeg++
	f, err := w.takeSpare()
	if f == nil && err == nil {
		f, err = os.OpenFile(walPath(w.dir), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			err = resetFile(f)
			if err == nil {
				err = f.Sync()
			}
		}
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err == nil {
		w.startSpare(min(max(grew, minSpare), maxSpare))
	}
	if err != nil {
		// The old segment is still replayed on start; refuse further writes
		// rather than acknowledge them into a log we cannot trust.
		w.err = fmt.Errorf("start a new log: %w", err)
		if f != nil {
			f.Close()
		}
		return 0, w.unavailable()
	}
	old := w.f
	w.f = f
	w.size = int64(len(walMagic))
	_ = old.Close()
	return n, nil
}

// takeSpare renames a ready spare to the active log and opens it positioned
// after the magic; nil, nil when there is none. Called with mu held, the
// active log already renamed away.
func (w *wal) takeSpare() (*os.File, error) {
	if !w.spareReady {
		return nil, nil
	}
	w.spareReady = false
	if err := os.Rename(sparePath(w.dir), walPath(w.dir)); err != nil {
		return nil, nil // create the log as before
	}
	f, err := os.OpenFile(walPath(w.dir), os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(int64(len(walMagic)), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// removeSegments deletes rotated segments numbered up to n. It does not
// fsync the folder: a removal a crash undoes only replays entries the files
// already hold, which gives the same state (see the operations below), and
// the next rotation's fsync of the folder makes it durable anyway.
func (w *wal) removeSegments(n int) error {
	segs, err := walSegments(w.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s > n {
			continue
		}
		if err := os.Remove(segmentPath(w.dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove flushed log segment: %w", err)
		}
	}
	return nil
}

func (w *wal) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f == nil
}

func (w *wal) close() error {
	err := w.flushAll()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waitSpare()
	// Leave a closed folder with one small log: the spare and the zeros of an
	// empty log are only worth their space while writes come.
	if w.spareReady {
		w.spareReady = false
		if rerr := os.Remove(sparePath(w.dir)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = fmt.Errorf("remove spare log: %w", rerr)
		}
	}
	if w.f != nil && err == nil && w.err == nil && w.size <= int64(len(walMagic)) {
		err = w.f.Truncate(int64(len(walMagic)))
	}
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		w.f = nil
	}
	if w.err == nil {
		w.err = errors.New("closed")
	}
	return err
}
