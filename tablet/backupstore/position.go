package backupstore

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction id, domain-server-sequence.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// Position is a MariaDB GTID position: the last transaction of each
// replication domain ("0-100-57,1-100-3"). The zero value is the empty
// position (nothing applied). A Position is never modified in place.
type Position map[uint32]GTID

// ParsePosition reads a GTID position as MariaDB prints it; "" is empty.
func ParsePosition(s string) (Position, error) {
	p := Position{}
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("GTID position %q: %q is not domain-server-sequence", s, part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("GTID position %q: %q is not domain-server-sequence", s, part)
		}
		g := GTID{Domain: uint32(d), Server: uint32(sv), Seq: seq}
		if old, ok := p[g.Domain]; ok && old.Seq >= g.Seq {
			continue // a binlog state lists every server of a domain: keep the last
		}
		p[g.Domain] = g
	}
	return p, nil
}

// MustPosition parses s and panics on a malformed one (tests, constants).
func MustPosition(s string) Position {
	p, err := ParsePosition(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String prints the position as MariaDB does, domains in order.
func (p Position) String() string {
	domains := make([]int, 0, len(p))
	for d := range p {
		domains = append(domains, int(d))
	}
	sort.Ints(domains)
	parts := make([]string, len(domains))
	for i, d := range domains {
		parts[i] = p[uint32(d)].String()
	}
	return strings.Join(parts, ",")
}

// Contains reports whether every transaction in o is in p: in each of o's
// domains, p is at o's sequence number or past it.
func (p Position) Contains(o Position) bool {
	for d, g := range o {
		if p[d].Seq < g.Seq {
			return false
		}
	}
	return true
}

// Equal reports whether p and o hold the same transactions.
func (p Position) Equal(o Position) bool { return p.Contains(o) && o.Contains(p) }

// Same reports whether p and o end with the very same transactions: in
// every domain the same sequence number from the same server. Two
// histories that reuse sequence numbers differ here where Equal does not
// tell them apart, as long as other servers wrote them.
func (p Position) Same(o Position) bool {
	for d, g := range p {
		if o[d] != g {
			return false
		}
	}
	for d, g := range o {
		if p[d] != g {
			return false
		}
	}
	return true
}

// Add returns p with g applied.
func (p Position) Add(g GTID) Position {
	q := make(Position, len(p)+1)
	for d, x := range p {
		q[d] = x
	}
	if q[g.Domain].Seq < g.Seq {
		q[g.Domain] = g
	}
	return q
}

// seqSum orders positions of one history: it grows with every transaction.
func (p Position) seqSum() uint64 {
	var n uint64
	for _, g := range p {
		n += g.Seq
	}
	return n
}
