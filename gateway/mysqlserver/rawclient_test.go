package mysqlserver

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient speaks the protocol packet by packet, for what drivers do not
// exercise (cursors, COM_CHANGE_USER, session tracking, malformed input).
type rawClient struct {
	t        testing.TB
	conn     net.Conn
	r        *bufio.Reader
	seq      byte
	caps     uint32 // what the client asked for
	extCaps  uint32 // MariaDB's extended capabilities it asks for (without CapLongPassword)
	greeting []byte
	server   uint32 // what the server offered
	scramble []byte
	connID   uint32
}

const rawClientCaps = CapLongPassword | CapLongFlag | CapProtocol41 | CapTransactions | CapSecureConnection |
	CapMultiStatements | CapMultiResults | CapPSMultiResults | CapPluginAuth | CapPluginAuthLenencClientData |
	CapConnectAttrs

// dialRaw connects and reads the server's greeting.
func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawClient{t: t, conn: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { _ = nc.Close() })
	g := rc.read()
	rc.greeting = g
	if g[0] != 10 {
		t.Fatalf("greeting %q", g)
	}
	d := newDecoder(g[1:])
	d.nulString()
	rc.connID = d.uint32()
	rc.scramble = append([]byte(nil), d.take(8)...)
	d.take(1)
	caps := uint32(d.uint16())
	d.take(3)
	caps |= uint32(d.uint16()) << 16
	d.take(11)
	rc.scramble = append(rc.scramble, d.take(12)...)
	rc.server = caps
	return rc
}

// login answers the greeting as user with password (native scrambling)
// and extra capabilities, and returns the server's first answer.
func (rc *rawClient) login(user, password, db string, extra uint32) []byte {
	rc.caps = rawClientCaps | extra
	if db != "" {
		rc.caps |= CapConnectWithDB
	}
	rc.writeHandshakeResponse(user, NativePassword, ScrambleNativePassword(rc.scramble, password), db)
	return rc.read()
}

func (rc *rawClient) writeHandshakeResponse(user, plugin string, auth []byte, db string) {
	b := appendUint32(nil, rc.caps)
	b = appendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 19)...)
	b = appendUint32(b, rc.extCaps)
	b = append(append(b, user...), 0)
	b = appendLenEncBytes(b, auth)
	if db != "" {
		b = append(append(b, db...), 0)
	}
	b = append(append(b, plugin...), 0)
	attrs := appendLenEncString(appendLenEncString(nil, "_client_name"), "rawclient")
	b = appendLenEncBytes(b, attrs)
	rc.write(b)
}

// mustLogin logs in and fails unless the server said OK.
func (rc *rawClient) mustLogin(user, password, db string, extra uint32) {
	rc.t.Helper()
	if p := rc.login(user, password, db, extra); p[0] != okHeader {
		rc.t.Fatalf("login: %q", p)
	}
}

// startTLS sends the SSL request and upgrades the connection.
func (rc *rawClient) startTLS(cfg *tls.Config, extra uint32) {
	rc.caps = rawClientCaps | CapSSL | extra
	b := appendUint32(nil, rc.caps)
	b = appendUint32(b, 1<<24)
	b = append(b, 45)
	b = append(b, make([]byte, 23)...)
	rc.write(b)
	tc := tls.Client(rc.conn, cfg)
	if err := tc.Handshake(); err != nil {
		rc.t.Fatal(err)
	}
	rc.conn = tc
	rc.r = bufio.NewReader(tc)
}

func (rc *rawClient) write(payload []byte) {
	rc.t.Helper()
	b := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), rc.seq}
	rc.seq++
	if _, err := rc.conn.Write(append(b, payload...)); err != nil {
		rc.t.Fatal(err)
	}
}

// command sends a command packet (sequence 0).
func (rc *rawClient) command(cmd byte, data []byte) {
	rc.t.Helper()
	rc.seq = 0
	rc.write(append([]byte{cmd}, data...))
}

func (rc *rawClient) read() []byte {
	rc.t.Helper()
	p, err := rc.tryRead()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return p
}

func (rc *rawClient) tryRead() ([]byte, error) {
	var payload []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(rc.r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		if hdr[3] != rc.seq {
			rc.t.Fatalf("sequence %d, want %d", hdr[3], rc.seq)
		}
		rc.seq++
		p := make([]byte, n)
		if _, err := io.ReadFull(rc.r, p); err != nil {
			return nil, err
		}
		payload = append(payload, p...)
		if n < maxPayload {
			return payload, nil
		}
	}
}

// okPacket is a parsed OK (or 0xfe OK) packet.
type okPacket struct {
	affected, insertID uint64
	status, warnings   uint16
	info               string
	state              []byte // session state information
}

func (rc *rawClient) parseOK(p []byte) okPacket {
	rc.t.Helper()
	if len(p) == 0 || (p[0] != okHeader && p[0] != eofHeader) {
		rc.t.Fatalf("not an OK packet: %q", p)
	}
	d := newDecoder(p[1:])
	ok := okPacket{affected: d.lenEncInt(), insertID: d.lenEncInt(), status: d.uint16(), warnings: d.uint16()}
	if d.remaining() > 0 {
		ok.info = string(d.lenEncBytes())
	}
	if ok.status&StatusSessionStateChange != 0 && rc.caps&CapSessionTrack != 0 {
		ok.state = d.lenEncBytes()
	}
	if !d.ok {
		rc.t.Fatalf("malformed OK packet %q", p)
	}
	return ok
}

// errCode returns the code of an ERR packet (0 if p is not one).
func errCode(p []byte) uint16 {
	if len(p) < 3 || p[0] != errHeader {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}

// readResultSet reads a result set's column count, definitions, rows and
// terminator; it returns the rows' payloads and the terminator.
func (rc *rawClient) readResultSet() (cols int, rows [][]byte, end []byte) {
	rc.t.Helper()
	p := rc.read()
	if p[0] == errHeader || p[0] == okHeader {
		return 0, nil, p
	}
	d := newDecoder(p)
	cols = int(d.lenEncInt())
	for range cols {
		rc.read()
	}
	if rc.caps&CapDeprecateEOF == 0 {
		if p := rc.read(); p[0] != eofHeader {
			rc.t.Fatalf("no EOF after columns: %q", p)
		}
	}
	for {
		p := rc.read()
		if (p[0] == eofHeader && len(p) < maxPayload) || p[0] == errHeader {
			return cols, rows, p
		}
		rows = append(rows, p)
	}
}

// eofStatus is the status of an EOF packet, or of an OK with header 0xfe.
func (rc *rawClient) eofStatus(p []byte) uint16 {
	rc.t.Helper()
	if rc.caps&CapDeprecateEOF != 0 {
		return rc.parseOK(p).status
	}
	if len(p) != 5 || p[0] != eofHeader {
		rc.t.Fatalf("not an EOF packet: %q", p)
	}
	return binary.LittleEndian.Uint16(p[3:])
}

func dialRawErr(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

// readOnePacket reads one packet's payload from nc.
func readOnePacket(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	if _, err := io.ReadFull(nc, p); err != nil {
		t.Fatal(err)
	}
	return p
}
