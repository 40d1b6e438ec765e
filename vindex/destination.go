package vindex

import "strings"

// Destination is where a value routes: the outcome of mapping it through a
// vindex. The set of kinds is closed (the method isDestination is
// unexported): a caller switches on the concrete type and can rely on
// seeing only the ones declared here.
type Destination interface {
	isDestination()
	// String describes the destination for logs and plan descriptions,
	// e.g. "DestinationKeyspaceID(166b40b44aba4bd6)".
	String() string
}

// DestinationKeyspaceID routes to exactly one keyspace ID.
type DestinationKeyspaceID KeyspaceID

// DestinationKeyspaceIDs routes to any of several keyspace IDs: the value may
// live under each of them, as non-unique vindexes report.
type DestinationKeyspaceIDs []KeyspaceID

// DestinationKeyRange routes to every keyspace ID in a range, as a multicol
// vindex reports when given only a prefix of its columns. The zero value is
// the whole key space.
type DestinationKeyRange KeyRange

// DestinationNone routes nowhere: no row can hold the value under this
// vindex (for example a NULL or a non-numeric string given to hash), so a
// query selecting on it matches nothing and needs no shard.
type DestinationNone struct{}

func (DestinationKeyspaceID) isDestination()  {}
func (DestinationKeyspaceIDs) isDestination() {}
func (DestinationKeyRange) isDestination()    {}
func (DestinationNone) isDestination()        {}

// String implements Destination.
func (d DestinationKeyspaceID) String() string {
	return "DestinationKeyspaceID(" + KeyspaceID(d).String() + ")"
}

// String implements Destination.
func (d DestinationKeyspaceIDs) String() string {
	var b strings.Builder
	b.WriteString("DestinationKeyspaceIDs(")
	for i, id := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
	}
	b.WriteByte(')')
	return b.String()
}

// String implements Destination.
func (d DestinationKeyRange) String() string {
	return "DestinationKeyRange(" + KeyRange(d).String() + ")"
}

// String implements Destination.
func (DestinationNone) String() string {
	return "DestinationNone()"
}
