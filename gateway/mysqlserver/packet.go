package mysqlserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// Reading and writing packets: a 3-byte little-endian payload length and a
// sequence id, then the payload. A payload of maxPayload bytes or more is
// sent as several packets, every one but the last holding maxPayload bytes
// (the last may be empty).

// errPacketTooLarge: a client's packet exceeded the size allowed at that
// point. The connection answers ER_NET_PACKET_TOO_LARGE and closes.
var errPacketTooLarge = errors.New("packet larger than allowed")

// errOutOfOrder: a packet's sequence id is not the one expected.
var errOutOfOrder = errors.New("packets out of order")

// minReadBuffer is the first allocation for a payload; larger payloads
// grow it, doubling, as their bytes actually arrive, so that a header
// announcing 16 MiB that is followed by nothing costs this much.
const minReadBuffer = 4 << 10

// keepReadBuffer is the largest payload buffer a connection keeps between
// commands; a larger one is dropped after the command that needed it.
const keepReadBuffer = 64 << 10

// readPacket reads one logical packet (reassembling continuations) into
// the connection's read buffer and returns its payload, valid until the
// next read. limit bounds the payload; past it, errPacketTooLarge is
// returned as soon as a header announces more.
func (c *Conn) readPacket(limit int) ([]byte, error) {
	buf := c.rbuf[:0]
	for {
		var hdr [4]byte
		if err := c.readHeader(hdr[:]); err != nil {
			return nil, err
		}
		if buf == nil {
			buf = (*payloadBuffers.Get().(*[]byte))[:0]
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] != c.seq {
			c.seq = hdr[3] + 1 // the error answers the packet received
			return nil, errOutOfOrder
		}
		c.seq++
		if len(buf)+n > limit {
			c.rbuf = buf
			return nil, errPacketTooLarge
		}
		var err error
		buf, err = readGrowing(c.r, buf, n)
		c.rbuf = buf
		if err != nil {
			return nil, err
		}
		if n < maxPayload {
			return buf, nil
		}
	}
}

// Idle connections hold no read buffers. A connection that receives no
// command for idleAfter gives its bufio.Reader and payload buffer back to
// these pools and waits for its next command on the socket itself
// (idleWaiter), taking a buffer once bytes arrive. An idle logged-in
// connection then costs its goroutine and its session, not 8 KiB of
// buffers it is not using; a busy one keeps them and pays nothing more
// per command (giving them back after every command cost 5% of a point
// select's round trip in BenchmarkPointSelectRoundTrip).
const idleAfter = 250 * time.Millisecond

var (
	readers        = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	payloadBuffers = sync.Pool{New: func() any { b := make([]byte, 0, minReadBuffer); return &b }}
)

// newReader returns a pooled read buffer over conn.
func newReader(conn io.Reader) *bufio.Reader {
	r := readers.Get().(*bufio.Reader)
	r.Reset(conn)
	return r
}

// readHeader reads a packet header through the read buffer, first waiting
// for bytes on a connection that gave its buffer back while idle.
func (c *Conn) readHeader(hdr []byte) error {
	if c.r == nil {
		if err := c.idle.wait(); err != nil {
			return err
		}
		c.r = newReader(c.conn)
	}
	_, err := io.ReadFull(c.r, hdr)
	return err
}

// releaseWhenIdle waits up to idleAfter for the next command (but not
// past deadline, the idle timeout's) and, if none came, gives the
// connection's read buffers back to their pools. Connections that cannot
// be waited on without them (TLS), or that hold pipelined bytes, keep them.
func (c *Conn) releaseWhenIdle(deadline time.Time) {
	soon := time.Now().Add(idleAfter)
	if c.idle == nil || c.r == nil || c.r.Buffered() > 0 || soon.After(deadline) {
		return
	}
	_ = c.conn.SetReadDeadline(soon)
	if _, err := c.r.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		return // a command arrived (or the connection ended): the read says
	}
	c.r.Reset(nil)
	readers.Put(c.r)
	c.r = nil
	if c.rbuf != nil && cap(c.rbuf) <= keepReadBuffer {
		b := c.rbuf[:0]
		payloadBuffers.Put(&b)
	}
	c.rbuf = nil
}

// readGrowing appends n bytes from r to buf, growing buf only as bytes
// arrive (doubling, from minReadBuffer).
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	want := len(buf) + n
	for len(buf) < want {
		if len(buf) == cap(buf) {
			newCap := max(2*cap(buf), minReadBuffer)
			if newCap > want {
				newCap = max(want, minReadBuffer)
			}
			grown := make([]byte, len(buf), newCap)
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), want)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < want {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// Write side: packets are appended to one buffer per command, flushed when
// it passes flushThreshold (long results) and at the end of the command's
// response, so a small answer costs one write.

const (
	flushThreshold = 64 << 10
	// writeBufferSize is a pooled buffer's initial capacity; buffers that
	// grew past keepWriteBuffer are not returned to the pool.
	writeBufferSize = 16 << 10
	keepWriteBuffer = 1 << 20
)

var writeBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, writeBufferSize)
	return &b
}}

// begin starts a packet: it returns the write buffer with room for the
// header, to which the caller appends the payload and hands to end.
func (c *Conn) begin() []byte {
	if c.wpool == nil {
		c.wpool = writeBuffers.Get().(*[]byte)
		c.wbuf = (*c.wpool)[:0]
	}
	c.pktStart = len(c.wbuf)
	return append(c.wbuf, 0, 0, 0, 0)
}

// end completes the packet begun by begin: it fills in the header (or
// splits a payload too large for one packet) and flushes when the buffer
// is full.
func (c *Conn) end(b []byte) error {
	start := c.pktStart
	c.pktStart = -1
	n := len(b) - start - 4
	if n < maxPayload {
		b[start], b[start+1], b[start+2], b[start+3] = byte(n), byte(n>>8), byte(n>>16), c.seq
		c.seq++
		c.wbuf = b
		if len(b) >= flushThreshold {
			return c.flush()
		}
		return nil
	}
	payload := append([]byte(nil), b[start+4:]...)
	c.wbuf = b[:start]
	for {
		k := min(len(payload), maxPayload)
		c.wbuf = append(c.wbuf, byte(k), byte(k>>8), byte(k>>16), c.seq)
		c.wbuf = append(c.wbuf, payload[:k]...)
		c.seq++
		payload = payload[k:]
		if err := c.flush(); err != nil {
			return err
		}
		if k < maxPayload {
			return nil
		}
	}
}

// writePacket writes one packet with the given payload.
func (c *Conn) writePacket(payload []byte) error {
	return c.end(append(c.begin(), payload...))
}

// flush writes out what is buffered.
func (c *Conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	if c.ioErr != nil {
		return c.ioErr
	}
	_ = c.conn.SetWriteDeadline(c.srv.now().Add(netWriteTimeout))
	_, err := c.conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if err != nil {
		c.ioErr = err
	}
	return err
}

// releaseBuffers returns the write buffer to the pool and drops a read
// buffer grown large, between commands.
func (c *Conn) releaseBuffers() {
	if c.wpool != nil {
		if cap(c.wbuf) <= keepWriteBuffer {
			*c.wpool = c.wbuf[:0]
			writeBuffers.Put(c.wpool)
		}
		c.wpool, c.wbuf = nil, nil
	}
	if cap(c.rbuf) > keepReadBuffer {
		c.rbuf = nil
	}
}

// discardPartialPacket drops a packet begun and never ended (a panic while
// it was being built), so that what follows stays well-formed.
func (c *Conn) discardPartialPacket() {
	if c.pktStart >= 0 {
		c.wbuf = c.wbuf[:c.pktStart]
		c.pktStart = -1
	}
}

// Length-encoded integers and strings.

func appendLenEncInt(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
	}
}

func appendLenEncString(b []byte, s string) []byte {
	return append(appendLenEncInt(b, uint64(len(s))), s...)
}

func appendLenEncBytes(b []byte, s []byte) []byte {
	return append(appendLenEncInt(b, uint64(len(s))), s...)
}

func appendUint16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendUint32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// decoder reads fields from a payload. Reading past the end sets ok to
// false and returns zero values, so a parser checks ok once at the end.
type decoder struct {
	b   []byte
	pos int
	ok  bool
}

func newDecoder(b []byte) *decoder { return &decoder{b: b, ok: true} }

func (d *decoder) remaining() int { return len(d.b) - d.pos }

func (d *decoder) take(n int) []byte {
	if n < 0 || d.remaining() < n {
		d.ok = false
		d.pos = len(d.b)
		return nil
	}
	s := d.b[d.pos : d.pos+n]
	d.pos += n
	return s
}

func (d *decoder) uint8() byte {
	s := d.take(1)
	if s == nil {
		return 0
	}
	return s[0]
}

func (d *decoder) uint16() uint16 {
	s := d.take(2)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(s)
}

func (d *decoder) uint32() uint32 {
	s := d.take(4)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(s)
}

func (d *decoder) uint64() uint64 {
	s := d.take(8)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(s)
}

// lenEncInt reads a length-encoded integer; 0xfb (NULL) is not accepted.
func (d *decoder) lenEncInt() uint64 {
	switch first := d.uint8(); {
	case first < 0xfb:
		return uint64(first)
	case first == 0xfc:
		return uint64(d.uint16())
	case first == 0xfd:
		s := d.take(3)
		if s == nil {
			return 0
		}
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16
	case first == 0xfe:
		return d.uint64()
	default:
		d.ok = false
		return 0
	}
}

func (d *decoder) lenEncBytes() []byte {
	n := d.lenEncInt()
	if n > uint64(d.remaining()) {
		d.ok = false
		d.pos = len(d.b)
		return nil
	}
	return d.take(int(n))
}

// nulString reads a string ended by a NUL byte (or, when there is none,
// by the end of the payload: clients differ on the last field).
func (d *decoder) nulString() string {
	rest := d.b[d.pos:]
	for i, ch := range rest {
		if ch == 0 {
			d.pos += i + 1
			return string(rest[:i])
		}
	}
	d.pos = len(d.b)
	return string(rest)
}

func (d *decoder) rest() []byte {
	s := d.b[d.pos:]
	d.pos = len(d.b)
	return s
}
