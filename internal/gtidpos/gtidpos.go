// Package gtidpos reads, compares and advances MariaDB GTID positions
// ("0-1-42,1-7-3": for each replication domain, the last transaction's
// server id and sequence number), as resharding streams record them.
//
// Within a domain, sequence numbers only grow, whichever server wrote the
// transaction; so one position is at or past another when, in each of the
// other's domains, its sequence number is at least as large.
package gtidpos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// GTID is one transaction's id.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// ParseGTID reads "domain-server-seq".
func ParseGTID(s string) (GTID, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) != 3 {
		return GTID{}, fmt.Errorf("GTID %q is not domain-server-sequence", s)
	}
	d, err1 := strconv.ParseUint(parts[0], 10, 32)
	srv, err2 := strconv.ParseUint(parts[1], 10, 32)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return GTID{}, fmt.Errorf("GTID %q is not domain-server-sequence", s)
	}
	return GTID{Domain: uint32(d), Server: uint32(srv), Seq: seq}, nil
}

// Position is, per domain, the last transaction applied. The zero value
// (or nil) is the empty position. A Position is a value: the methods that
// change it return a new one.
type Position map[uint32]GTID

// Parse reads a MariaDB GTID position; "" is the empty position.
func Parse(s string) (Position, error) {
	p := Position{}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		g, err := ParseGTID(part)
		if err != nil {
			return nil, fmt.Errorf("position %q: %w", s, err)
		}
		if old, ok := p[g.Domain]; !ok || g.Seq > old.Seq {
			p[g.Domain] = g
		}
	}
	return p, nil
}

// MustParse is Parse for positions known to be valid (tests).
func MustParse(s string) Position {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String formats the position as MariaDB does, domains in order.
func (p Position) String() string {
	domains := make([]uint32, 0, len(p))
	for d := range p {
		domains = append(domains, d)
	}
	sort.Slice(domains, func(i, j int) bool { return domains[i] < domains[j] })
	parts := make([]string, len(domains))
	for i, d := range domains {
		parts[i] = p[d].String()
	}
	return strings.Join(parts, ",")
}

// After returns the position once transaction g is applied too.
func (p Position) After(g GTID) Position {
	out := make(Position, len(p)+1)
	for d, x := range p {
		out[d] = x
	}
	if old, ok := out[g.Domain]; !ok || g.Seq > old.Seq {
		out[g.Domain] = g
	}
	return out
}

// AtLeast reports whether p is at or past o: every transaction o includes,
// p does too.
func (p Position) AtLeast(o Position) bool {
	for d, g := range o {
		mine, ok := p[d]
		if !ok || mine.Seq < g.Seq {
			return false
		}
	}
	return true
}

// Equal reports whether both include the same transactions.
func (p Position) Equal(o Position) bool { return p.AtLeast(o) && o.AtLeast(p) }

// Same reports whether p and o end with the very same transactions: in
// every domain the same sequence number from the same server. Two
// histories that reuse sequence numbers (a server restored to an earlier
// moment that wrote on) differ here where Equal does not tell them apart,
// as long as other servers wrote them.
func (p Position) Same(o Position) bool {
	if len(p) != len(o) {
		return false
	}
	for d, g := range p {
		if other, ok := o[d]; !ok || other != g {
			return false
		}
	}
	return true
}

// Merge returns the position that includes both p and o: per domain, the
// later of the two.
func (p Position) Merge(o Position) Position {
	out := make(Position, len(p)+len(o))
	for d, g := range p {
		out[d] = g
	}
	for d, g := range o {
		if mine, ok := out[d]; !ok || g.Seq > mine.Seq {
			out[d] = g
		}
	}
	return out
}
