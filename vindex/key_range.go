package vindex

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// KeyRange is the half-open range [Start, End) of keyspace IDs that a shard
// owns. An empty Start is the start of the key space (-inf) and an empty End
// its end (+inf), so the zero KeyRange is the whole space. Bounds compare as
// fractions (see KeyspaceID): trailing zero bytes do not matter.
//
// A KeyRange returned by this package owns its byte slices.
type KeyRange struct {
	Start, End []byte
}

// ParseKeyRange parses a shard name into the range it owns.
//
// Sharded shards are named "start-end" with each bound a whole number of
// bytes in hex (either case) and either bound possibly empty: "-80", "40-80",
// "80-". "-" and "0" (the name of an unsharded keyspace's only shard) both
// mean the whole key space. The start must lie below the end. The error
// names the shard and says what is wrong with it.
func ParseKeyRange(shard string) (KeyRange, error) {
	if shard == "0" || shard == "-" {
		return KeyRange{}, nil
	}
	if shard == "" {
		return KeyRange{}, fmt.Errorf("invalid shard name %q: it is empty", shard)
	}
	startHex, endHex, ok := strings.Cut(shard, "-")
	if !ok {
		return KeyRange{}, fmt.Errorf(`invalid shard name %q: want "start-end" in hex (like "40-80", "-80", "80-") or "0"`, shard)
	}
	if strings.Contains(endHex, "-") {
		return KeyRange{}, fmt.Errorf(`invalid shard name %q: it has more than one "-"`, shard)
	}
	start, err := parseBound(startHex)
	if err != nil {
		return KeyRange{}, fmt.Errorf("invalid shard name %q: start %q: %w", shard, startHex, err)
	}
	end, err := parseBound(endHex)
	if err != nil {
		return KeyRange{}, fmt.Errorf("invalid shard name %q: end %q: %w", shard, endHex, err)
	}
	if len(end) > 0 {
		// An all-zero end would read as +inf under the "empty end" rule once
		// its zeros are trimmed, turning an empty range into the whole space.
		if len(trimZeros(end)) == 0 {
			return KeyRange{}, fmt.Errorf("invalid shard name %q: end %s is the start of the key space, so the range is empty", shard, endHex)
		}
		if compareKeys(start, end) >= 0 {
			return KeyRange{}, fmt.Errorf("invalid shard name %q: start %s is not below end %s", shard, startHex, endHex)
		}
	}
	return KeyRange{Start: start, End: end}, nil
}

// parseBound decodes one hex bound of a shard name; empty means unbounded
// and is returned as nil.
func parseBound(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (a bound is whole bytes, e.g. %q)", "0"+s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	return b, nil
}

// MustParseKeyRange is ParseKeyRange for names known to be valid, such as
// constants in tests and examples; it panics on an invalid name.
func MustParseKeyRange(shard string) KeyRange {
	r, err := ParseKeyRange(shard)
	if err != nil {
		panic(err)
	}
	return r
}

// KeyRangeFromPrefix returns the range of all keyspace IDs that begin with
// prefix: [prefix, prefix+1), where prefix+1 adds one to the last byte with
// carry and an all-0xff prefix runs to the end of the key space. The empty
// prefix is the whole space.
func KeyRangeFromPrefix(prefix []byte) KeyRange {
	if len(prefix) == 0 {
		return KeyRange{}
	}
	start := slices.Clone(prefix)
	end := slices.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return KeyRange{Start: start, End: end}
		}
		end[i] = 0
	}
	// Carry out of the first byte: prefix+1 is 1.0, the end of the space.
	return KeyRange{Start: start}
}

// IsFull reports whether r is the whole key space.
func (r KeyRange) IsFull() bool {
	return len(trimZeros(r.Start)) == 0 && len(trimZeros(r.End)) == 0
}

// unboundedEnd reports whether r runs to the end of the key space.
func (r KeyRange) unboundedEnd() bool {
	return len(trimZeros(r.End)) == 0
}

// Contains reports whether id lies in r: Start <= id < End.
func (r KeyRange) Contains(id KeyspaceID) bool {
	if compareKeys(id, r.Start) < 0 {
		return false
	}
	return r.unboundedEnd() || compareKeys(id, r.End) < 0
}

// Intersects reports whether r and o have at least one keyspace ID in common.
func (r KeyRange) Intersects(o KeyRange) bool {
	return (r.unboundedEnd() || compareKeys(o.Start, r.End) < 0) &&
		(o.unboundedEnd() || compareKeys(r.Start, o.End) < 0)
}

// ContainsRange reports whether every keyspace ID of o lies in r.
func (r KeyRange) ContainsRange(o KeyRange) bool {
	if compareKeys(o.Start, r.Start) < 0 {
		return false
	}
	if r.unboundedEnd() {
		return true
	}
	return !o.unboundedEnd() && compareKeys(o.End, r.End) <= 0
}

// Equal reports whether r and o cover the same keyspace IDs.
func (r KeyRange) Equal(o KeyRange) bool {
	return compareKeys(r.Start, o.Start) == 0 && compareKeys(r.End, o.End) == 0
}

// String returns the canonical shard name of r: lowercase hex bounds joined
// by "-", and "-" for the whole key space. (The unsharded name "0" is a
// naming convention of keyspaces, not of ranges, so it is never returned.)
func (r KeyRange) String() string {
	if r.IsFull() {
		return "-"
	}
	return hex.EncodeToString(r.Start) + "-" + hex.EncodeToString(r.End)
}

// namedRange is a parsed shard name kept beside its spelling for messages.
type namedRange struct {
	name string
	r    KeyRange
}

func parseShards(shards []string) ([]namedRange, error) {
	out := make([]namedRange, len(shards))
	for i, s := range shards {
		r, err := ParseKeyRange(s)
		if err != nil {
			return nil, err
		}
		out[i] = namedRange{name: s, r: r}
	}
	return out, nil
}

// CheckTiling returns nil if the named shards cover the whole key space
// exactly once, in any order: no gap and no overlap. Otherwise the error
// names the culprit shards, e.g. `shards "-40" and "30-80" overlap` or
// `gap between "-40" and "80-": 40-80 is not covered`. A single "0" or "-"
// is a full tiling; an empty list is not.
func CheckTiling(shards []string) error {
	if len(shards) == 0 {
		return fmt.Errorf("no shards: an empty list covers nothing of the key space")
	}
	parsed, err := parseShards(shards)
	if err != nil {
		return err
	}
	slices.SortStableFunc(parsed, func(a, b namedRange) int {
		if c := compareKeys(a.r.Start, b.r.Start); c != 0 {
			return c
		}
		return compareEnds(a.r, b.r)
	})

	first := parsed[0]
	if len(trimZeros(first.r.Start)) != 0 {
		missing := KeyRange{End: first.r.Start}
		return fmt.Errorf("gap before %q: %s is not covered", first.name, missing)
	}
	// Ranges are sorted by start, so if any two overlap, two neighbours do:
	// checking each neighbour pair finds every overlap and gap.
	for i := 1; i < len(parsed); i++ {
		prev, cur := parsed[i-1], parsed[i]
		if prev.r.unboundedEnd() || compareKeys(cur.r.Start, prev.r.End) < 0 {
			if prev.name == cur.name {
				return fmt.Errorf("shard %q is listed twice", cur.name)
			}
			return fmt.Errorf("shards %q and %q overlap", prev.name, cur.name)
		}
		if compareKeys(cur.r.Start, prev.r.End) > 0 {
			missing := KeyRange{Start: prev.r.End, End: cur.r.Start}
			return fmt.Errorf("gap between %q and %q: %s is not covered", prev.name, cur.name, missing)
		}
	}
	last := parsed[len(parsed)-1]
	if !last.r.unboundedEnd() {
		missing := KeyRange{Start: last.r.End}
		return fmt.Errorf("gap after %q: %s is not covered", last.name, missing)
	}
	return nil
}

// compareEnds orders range ends with an unbounded end last.
func compareEnds(a, b KeyRange) int {
	switch ua, ub := a.unboundedEnd(), b.unboundedEnd(); {
	case ua && ub:
		return 0
	case ua:
		return 1
	case ub:
		return -1
	}
	return compareKeys(a.End, b.End)
}

// maxEvenShards is the largest shard count EvenShards produces: beyond it
// one byte of hex per bound no longer suffices.
const maxEvenShards = 256

// EvenShards returns the names of n shards of equal size that tile the key
// space, in key order: 2 gives "-80", "80-"; 4 gives "-40", "40-80",
// "80-c0", "c0-". One shard is named "0", the unsharded convention. n must
// be a power of two from 1 to 256.
func EvenShards(n int) ([]string, error) {
	if n < 1 || n > maxEvenShards || bits.OnesCount(uint(n)) != 1 {
		return nil, fmt.Errorf("cannot split the key space into %d even shards: the count must be a power of two from 1 to %d", n, maxEvenShards)
	}
	if n == 1 {
		return []string{"0"}, nil
	}
	width := maxEvenShards / n
	bound := func(b int) string {
		if b == 0 || b == maxEvenShards {
			return ""
		}
		return fmt.Sprintf("%02x", b)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = bound(i*width) + "-" + bound((i+1)*width)
	}
	return names, nil
}

// ShardFor returns which of the named shards holds id. It is an error if a
// name is invalid, if no shard holds id, or if more than one does (the
// shards overlap, so the answer would depend on their order).
func ShardFor(id KeyspaceID, shards []string) (string, error) {
	parsed, err := parseShards(shards)
	if err != nil {
		return "", err
	}
	found := -1
	for i, p := range parsed {
		if !p.r.Contains(id) {
			continue
		}
		if found >= 0 {
			return "", fmt.Errorf("keyspace id %q is in both shard %q and shard %q: the shards overlap", id.String(), parsed[found].name, p.name)
		}
		found = i
	}
	if found < 0 {
		return "", fmt.Errorf("keyspace id %q is in none of the shards %q", id.String(), shards)
	}
	return parsed[found].name, nil
}
