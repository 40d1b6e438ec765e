package vindex

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// update rewrites the expected outcomes in testdata/*.txt from the
// implementation. Review the diff: every vector was checked against
// Vitess, and a changed keyspace ID moves rows to other shards.
var update = flag.Bool("update", false, "rewrite the expected outcomes in testdata/ from the implementation")

// A vector file lists cases, one per line:
//
//	values -> outcome
//
// values are space-separated, each NULL or TYPE(literal) where TYPE is a
// query type name (INT64, UINT64, VARCHAR, VARBINARY, HEXNUM, ...) and
// literal is a Go-quoted string or bare text without spaces or ')'. The
// outcome is the String of the Destination Map returns, or "error: " and
// the message. A line "vindex TYPE [param=value ...]" sets the vindex for
// the cases that follow; '#' starts a comment line.

type vectorCase struct {
	line     int
	values   []sqltypes.Value
	input    string // the values as written
	expected string
}

// runVectorFile checks (or with -update rewrites) one file of vectors.
func runVectorFile(t *testing.T, file string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var (
		vdx   Vindex
		cases int
	)
	for i, line := range lines {
		lineNo := i + 1
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "vindex "):
			vdx = createFromDirective(t, path, lineNo, trimmed)
			continue
		}
		if vdx == nil {
			t.Fatalf("%s:%d: case before any vindex line", path, lineNo)
		}
		c, err := parseVectorCase(trimmed)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, lineNo, err)
		}
		c.line = lineNo
		cases++
		got := mapOutcome(vdx, c.values)
		if *update {
			lines[i] = strings.TrimLeft(c.input+" -> "+got, " ")
			continue
		}
		if got != c.expected {
			t.Errorf("%s:%d: %s (%s): got %s, want %s", path, lineNo, c.input, vdx, got, c.expected)
			continue
		}
		checkConsistency(t, path, c, vdx)
	}
	if cases == 0 {
		t.Fatalf("%s: no cases", path)
	}
	if *update {
		out := strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func createFromDirective(t *testing.T, path string, lineNo int, line string) Vindex {
	t.Helper()
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("%s:%d: vindex line needs a type", path, lineNo)
	}
	params := map[string]string{}
	for _, f := range fields[2:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%s:%d: param %q is not key=value", path, lineNo, f)
		}
		params[k] = v
	}
	v, err := Create(fields[1], fields[1], params)
	if err != nil {
		t.Fatalf("%s:%d: %v", path, lineNo, err)
	}
	return v
}

// parseVectorCase splits "values -> outcome" and parses the values.
func parseVectorCase(line string) (vectorCase, error) {
	var c vectorCase
	rest := line
	for {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, "->") {
			c.expected = strings.TrimSpace(rest[2:])
			c.input = strings.TrimSpace(line[:len(line)-len(rest)])
			return c, nil
		}
		if rest == "" {
			return c, fmt.Errorf("missing \"->\"")
		}
		v, n, err := parseVectorValue(rest)
		if err != nil {
			return c, err
		}
		c.values = append(c.values, v)
		rest = rest[n:]
	}
}

// parseVectorValue parses one value at the start of s and returns it with
// the number of bytes it took.
func parseVectorValue(s string) (sqltypes.Value, int, error) {
	if strings.HasPrefix(s, "NULL") {
		return sqltypes.NULL, len("NULL"), nil
	}
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return sqltypes.Value{}, 0, fmt.Errorf("value %q: want NULL or TYPE(literal)", s)
	}
	typ, ok := querypb.Type_value[s[:open]]
	if !ok {
		return sqltypes.Value{}, 0, fmt.Errorf("value %q: unknown type %q", s, s[:open])
	}
	body := s[open+1:]
	var lit string
	var n int
	if strings.HasPrefix(body, `"`) {
		q, err := strconv.QuotedPrefix(body)
		if err != nil {
			return sqltypes.Value{}, 0, fmt.Errorf("value %q: %w", s, err)
		}
		lit, _ = strconv.Unquote(q)
		n = len(q)
	} else {
		n = strings.IndexAny(body, ") ")
		if n < 0 {
			return sqltypes.Value{}, 0, fmt.Errorf("value %q: missing ')'", s)
		}
		lit = body[:n]
	}
	if !strings.HasPrefix(body[n:], ")") {
		return sqltypes.Value{}, 0, fmt.Errorf("value %q: missing ')'", s)
	}
	return sqltypes.MakeTrusted(querypb.Type(typ), []byte(lit)), open + 1 + n + 1, nil
}

// mapOutcome maps one row through v and describes the result as the files
// spell it.
func mapOutcome(v Vindex, row []sqltypes.Value) string {
	dests, err := Map(context.Background(), v, nil, [][]sqltypes.Value{row})
	if err != nil {
		return "error: " + err.Error()
	}
	if len(dests) != 1 {
		return fmt.Sprintf("BUG: %d destinations for one row", len(dests))
	}
	return dests[0].String()
}

// checkConsistency checks that the other entry points agree with Map on a
// case whose Map outcome is already known to be right.
func checkConsistency(t *testing.T, path string, c vectorCase, v Vindex) {
	t.Helper()
	ctx := context.Background()
	where := fmt.Sprintf("%s:%d: %s", path, c.line, c.input)
	dests, err := Map(ctx, v, nil, [][]sqltypes.Value{c.values})
	if err != nil {
		return
	}
	id, isID := dests[0].(DestinationKeyspaceID)
	if h, ok := v.(Hasher); ok && len(c.values) == 1 {
		got, err := h.Hash(c.values[0])
		switch {
		case isID && err != nil:
			t.Errorf("%s: Map gives %s but Hash fails: %v", where, dests[0], err)
		case isID && !bytes.Equal(got, id):
			t.Errorf("%s: Map gives %s but Hash gives %s", where, dests[0], got)
		case !isID && err == nil:
			t.Errorf("%s: Map gives %s but Hash succeeds with %s", where, dests[0], got)
		}
	}
	if !isID {
		return
	}
	ok, err := Verify(ctx, v, nil, [][]sqltypes.Value{c.values}, []KeyspaceID{KeyspaceID(id)})
	if err != nil || !ok[0] {
		t.Errorf("%s: Verify against its own keyspace id = %v, %v; want true", where, ok, err)
	}
	wrong := append(KeyspaceID{0xde, 0xad}, id...)
	if ok, err := Verify(ctx, v, nil, [][]sqltypes.Value{c.values}, []KeyspaceID{wrong}); err != nil || ok[0] {
		t.Errorf("%s: Verify against a wrong keyspace id = %v, %v; want false", where, ok, err)
	}
	// Binary maps NULL to a nil keyspace id, which Vitess's ReverseMap
	// rejects; there is nothing to reverse.
	if r, ok := v.(Reversible); ok && id != nil {
		back, err := r.ReverseMap(nil, []KeyspaceID{KeyspaceID(id)})
		if err != nil {
			t.Errorf("%s: ReverseMap(%s): %v", where, KeyspaceID(id), err)
			return
		}
		again, err := r.Map(ctx, nil, back)
		if err != nil || again[0].String() != dests[0].String() {
			t.Errorf("%s: ReverseMap gives %v, which maps to %v (%v), not %s", where, back[0], again, err, dests[0])
		}
	}
}
