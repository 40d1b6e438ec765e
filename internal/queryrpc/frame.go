package queryrpc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Method names a call in a request frame.
type Method byte

// The calls carried.
const (
	MethodExecute Method = iota + 1
	MethodBeginExecute
	MethodBegin
	MethodCommit
	MethodRollback
	MethodPrepare
	MethodCommitPrepared
	MethodRollbackPrepared
	MethodReserveExecute
	MethodRelease
)

func (m Method) String() string {
	switch m {
	case MethodExecute:
		return "Execute"
	case MethodBeginExecute:
		return "BeginExecute"
	case MethodBegin:
		return "Begin"
	case MethodCommit:
		return "Commit"
	case MethodRollback:
		return "Rollback"
	case MethodPrepare:
		return "Prepare"
	case MethodCommitPrepared:
		return "CommitPrepared"
	case MethodRollbackPrepared:
		return "RollbackPrepared"
	case MethodReserveExecute:
		return "ReserveExecute"
	case MethodRelease:
		return "Release"
	}
	return fmt.Sprintf("method(%d)", byte(m))
}

// Outcomes in a response frame.
const (
	outcomeOK    byte = 0
	outcomeError byte = 1
)

// maxFrame bounds a frame so that a corrupt length cannot make a peer
// allocate without limit; it matches the gate's bound on results.
const maxFrame = 256 << 20

// writeFrame appends one frame to w; the caller flushes.
func writeFrame(w *bufio.Writer, tag byte, msg message) error {
	size := msg.SizeVT()
	if size+1 > maxFrame {
		return fmt.Errorf("message of %d bytes exceeds the %d-byte frame limit", size, maxFrame)
	}
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(size+1))
	hdr[4] = tag
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	buf := w.AvailableBuffer()
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	// The generated code fills the buffer from its end.
	if n, err := msg.MarshalToSizedBufferVT(buf); err != nil {
		return err
	} else if n != size {
		return fmt.Errorf("encoded %T is %d bytes, %d expected", msg, n, size)
	}
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame into buf (grown as needed) and returns its tag
// and payload, which alias buf.
func readFrame(r *bufio.Reader, buf []byte) (byte, []byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > maxFrame {
		return 0, nil, buf, fmt.Errorf("frame length %d out of range", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, err
	}
	return buf[0], buf[1:], buf, nil
}
