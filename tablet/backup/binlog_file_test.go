package backup

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// event builds a binlog event with a CRC32-sized trailer.
func event(ts uint32, typ byte, server uint32, body []byte) []byte {
	h := make([]byte, eventHeaderLen)
	binary.LittleEndian.PutUint32(h[0:], ts)
	h[4] = typ
	binary.LittleEndian.PutUint32(h[5:], server)
	binary.LittleEndian.PutUint32(h[9:], uint32(eventHeaderLen+len(body)+4))
	return append(append(h, body...), 0, 0, 0, 0)
}

func gtidListBody(gtids ...[3]uint64) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(gtids)))
	for _, g := range gtids {
		b = binary.LittleEndian.AppendUint32(b, uint32(g[0]))
		b = binary.LittleEndian.AppendUint32(b, uint32(g[1]))
		b = binary.LittleEndian.AppendUint64(b, g[2])
	}
	return b
}

func gtidBody(seq uint64, domain uint32) []byte {
	b := binary.LittleEndian.AppendUint64(nil, seq)
	b = binary.LittleEndian.AppendUint32(b, domain)
	return append(b, 0)
}

func testBinlog() []byte {
	f := append([]byte{}, binlogMagic...)
	f = append(f, event(1000, eventFormatDesc, 7, make([]byte, 80))...)
	// The state before the file: server 5 wrote up to 10, then server 7 to 12.
	f = append(f, event(1000, eventGTIDList, 7, gtidListBody([3]uint64{0, 5, 10}, [3]uint64{0, 7, 12}))...)
	f = append(f, event(1001, eventGTID, 7, gtidBody(13, 0))...)
	f = append(f, event(1001, 2, 7, []byte("BEGIN..."))...)
	f = append(f, event(1005, eventGTID, 7, gtidBody(14, 0))...)
	f = append(f, event(1006, eventGTID, 7, gtidBody(3, 1))...)
	return append(f, event(1010, eventRotate, 7, []byte("........mysql-bin.000002"))...)
}

func TestSummarizeBinlog(t *testing.T) {
	s, err := summarizeBinlog(bytes.NewReader(testBinlog()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.start.String() != "0-7-12" || s.end.String() != "0-7-14,1-7-3" || s.transactions != 3 ||
		s.first != 1000 || s.last != 1010 || !s.rotated || !s.complete || s.serverID != 7 {
		t.Fatalf("summary: start %s end %s, %d transactions, %d-%d, rotated %v complete %v server %d",
			s.start, s.end, s.transactions, s.first, s.last, s.rotated, s.complete, s.serverID)
	}
	// A stop time ends the summary before the first event at or past it.
	s, err = summarizeBinlog(bytes.NewReader(testBinlog()), 1005)
	if err != nil || s.end.String() != "0-7-13" || s.transactions != 1 {
		t.Fatalf("summary up to 1005: %v, %v", s, err)
	}
	// A file being written ends in a partial event.
	data := testBinlog()
	s, err = summarizeBinlog(bytes.NewReader(data[:len(data)-10]), 0)
	if err != nil || s.complete || s.rotated || s.transactions != 3 {
		t.Fatalf("truncated file: %+v, %v", s, err)
	}
	if _, err := summarizeBinlog(strings.NewReader("not a binlog"), 0); err == nil {
		t.Fatal("a file without the binlog magic was read")
	}
}

func TestReplayFilterNeutralizesGTIDSequenceNumbers(t *testing.T) {
	in := "/*M!100001 SET @@session.gtid_domain_id=0*//*!*/;\n" +
		"/*M!100001 SET @@session.gtid_seq_no=6*//*!*/;\n" +
		"BINLOG '\n" + strings.Repeat("A", 3<<20) + "\n'/*!*/;\n" +
		"XA COMMIT X'6c617465',X'',1\n"
	var out bytes.Buffer
	if err := replayFilter(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "SET @@session.gtid_seq_no=6", "SET @shardgate_replayed_gtid_seq_no=6", 1)
	if out.String() != want {
		t.Fatalf("filtered output differs (len %d, want %d)", out.Len(), len(want))
	}
}
