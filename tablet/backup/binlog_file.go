package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/shardgate/shardgate/internal/gtidpos"
)

// MariaDB binlog event types this package reads.
const (
	eventRotate     = 4
	eventFormatDesc = 15
	eventGTID       = 162
	eventGTIDList   = 163
)

const eventHeaderLen = 19

var binlogMagic = []byte{0xfe, 'b', 'i', 'n'}

// binlogSummary is what archiving records of a binlog file.
type binlogSummary struct {
	serverID     uint32
	start, end   gtidpos.Position
	first, last  int64 // event times, Unix seconds
	transactions int64
	// rotated: the file ends with a Rotate event (the server closed it).
	rotated bool
	// complete: the last event was read whole (false for a file still
	// being written).
	complete bool
}

// summarizeBinlog reads a MariaDB binlog file: the GTID position it starts
// at (its Gtid_list event), the GTIDs of its transactions, and the times
// of its first and last events. It reads only event headers and the
// bodies of GTID and Gtid_list events, so it needs no knowledge of row
// formats; a truncated last event (a file being written) ends the summary
// with complete false.
//
// With stopBefore (Unix seconds, 0: none) it stops at the first event
// dated at or after it, as mariadb-binlog --stop-datetime does, and the
// summary ends there.
func summarizeBinlog(r io.Reader, stopBefore int64) (*binlogSummary, error) {
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, fmt.Errorf("binlog header: %w", err)
	}
	if string(magic) != string(binlogMagic) {
		return nil, errors.New("not a binlog file (bad magic)")
	}
	s := &binlogSummary{start: gtidpos.Position{}, complete: true}
	header := make([]byte, eventHeaderLen)
	var body []byte
	sawList := false
	for {
		if _, err := io.ReadFull(r, header); err != nil {
			if err == io.EOF {
				break
			}
			s.complete = false
			break
		}
		ts := int64(binary.LittleEndian.Uint32(header[0:]))
		typ := header[4]
		server := binary.LittleEndian.Uint32(header[5:])
		size := binary.LittleEndian.Uint32(header[9:])
		if size < eventHeaderLen {
			return nil, fmt.Errorf("binlog event of %d bytes: corrupt file", size)
		}
		n := int(size) - eventHeaderLen
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			s.complete = false
			break
		}
		if stopBefore != 0 && ts >= stopBefore {
			break
		}
		if s.first == 0 {
			s.first = ts
		}
		if ts != 0 {
			s.last = ts
		}
		switch typ {
		case eventFormatDesc:
			s.serverID = server
		case eventGTIDList:
			if len(body) < 4 {
				return nil, errors.New("short Gtid_list event")
			}
			count := int(binary.LittleEndian.Uint32(body) & 0x0fffffff)
			if len(body) < 4+16*count {
				return nil, errors.New("short Gtid_list event")
			}
			pos := gtidpos.Position{}
			for i := 0; i < count; i++ {
				e := body[4+16*i:]
				pos = pos.After(gtidpos.GTID{
					Domain: binary.LittleEndian.Uint32(e[0:]), Server: binary.LittleEndian.Uint32(e[4:]),
					Seq: binary.LittleEndian.Uint64(e[8:]),
				})
			}
			if !sawList {
				s.start, s.end, sawList = pos, pos, true
			}
		case eventGTID:
			if len(body) < 12 {
				return nil, errors.New("short GTID event")
			}
			g := gtidpos.GTID{Seq: binary.LittleEndian.Uint64(body[0:]), Domain: binary.LittleEndian.Uint32(body[8:]), Server: server}
			s.end = s.end.After(g)
			s.transactions++
		case eventRotate:
			s.rotated = true
		}
	}
	if s.end == nil {
		s.end = s.start
	}
	return s, nil
}
