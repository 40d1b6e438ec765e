package mysqlserver

import (
	"errors"
	"io"
	"time"
)

// LOAD DATA LOCAL INFILE: the server asks the client for a file (a 0xfb
// packet naming it); the client sends the file's bytes in packets and an
// empty packet at the end, and then waits for the statement's response.

// netReadTimeout bounds the wait for each packet of a client's file
// (MariaDB's net_read_timeout).
const netReadTimeout = 30 * time.Second

// netWriteTimeout bounds each write to a client (MariaDB's
// net_write_timeout).
const netWriteTimeout = 60 * time.Second

var errLocalFileState = errors.New("LocalFile: called outside a COM_QUERY's statement, after its results began, or twice")

// LocalFile asks the client for the file name (LOAD DATA LOCAL INFILE) and
// returns a reader of what the client sends. It may be called once per
// statement, from ComQuery, before any result was given to the writer.
// The reader streams the client's packets with bounded memory; whatever
// the handler leaves unread is read and dropped before the statement's
// response, and Close does the same at once. When the client did not
// allow local files (CLIENT_LOCAL_FILES), it returns MariaDB's error 4166
// without asking.
func (c *Conn) LocalFile(name string) (io.ReadCloser, error) {
	if !c.inQuery || c.localFile != nil || c.rw.started || c.pktStart >= 0 {
		return nil, errLocalFileState
	}
	if c.caps&CapLocalFiles == 0 {
		return nil, errLocalFilesDisabled()
	}
	b := c.begin()
	b = append(b, localFileHeader)
	b = append(b, name...)
	if err := c.end(b); err != nil {
		return nil, err
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	c.localFile = &localFileReader{c: c}
	return c.localFile, nil
}

// localFileReader reads the client's file packets: the payloads, one
// after another, up to the empty packet that ends them.
type localFileReader struct {
	c         *Conn
	remaining int  // unread bytes of the current packet
	lastFull  bool // the current packet has maxPayload bytes: an empty one after it continues it
	done      bool
	err       error
}

func (r *localFileReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for r.remaining == 0 {
		if r.done {
			return 0, io.EOF
		}
		if r.err = r.nextPacket(); r.err != nil {
			return 0, r.err
		}
	}
	n, err := r.c.r.Read(p[:min(len(p), r.remaining)])
	r.remaining -= n
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = err
		r.c.ioErr = err
	}
	return n, err
}

func (r *localFileReader) nextPacket() error {
	c := r.c
	_ = c.conn.SetReadDeadline(c.srv.now().Add(netReadTimeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		c.ioErr = err
		return err
	}
	if hdr[3] != c.seq {
		c.ioErr = errOutOfOrder
		return errOutOfOrder
	}
	c.seq++
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 && !r.lastFull {
		r.done = true
	}
	r.remaining = n
	r.lastFull = n == maxPayload
	return nil
}

// Close reads and drops the rest of the file.
func (r *localFileReader) Close() error {
	for r.err == nil && (!r.done || r.remaining > 0) {
		if r.remaining > 0 {
			n, err := r.c.r.Discard(r.remaining)
			r.remaining -= n
			if err != nil {
				r.err = err
				r.c.ioErr = err
			}
			continue
		}
		r.err = r.nextPacket()
	}
	if r.err != nil && r.err != io.EOF {
		return r.err
	}
	return nil
}

// finishLocalFile drains the file the statement asked for, before its
// response; an error means the connection is broken.
func (c *Conn) finishLocalFile() error {
	r := c.localFile
	if r == nil {
		return nil
	}
	c.localFile = nil
	return r.Close()
}
