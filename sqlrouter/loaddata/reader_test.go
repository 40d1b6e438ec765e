package loaddata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"vitess.io/vitess/go/vt/sqlparser"
)

// readerCase is one case of testdata/reader_cases.json: a file, the
// statement's FIELDS/LINES/IGNORE clauses and its number of columns, and
// what MariaDB loads from it into that many nullable VARBINARY columns:
// the rows (null for NULL and for a column the line had no field for) and
// the warnings 1261 (too few fields) and 1262 (too many) by row. The
// integration test TestLoadDataReaderCasesMatchMariaDB checks the same
// cases against a real MariaDB (and rewrites the file with -update).
type readerCase struct {
	Name     string      `json:"name"`
	Columns  int         `json:"columns"`
	Clauses  string      `json:"clauses"`
	Data     string      `json:"data"`
	Rows     [][]*string `json:"rows"`
	Warnings []string    `json:"warnings"`
}

func loadReaderCases(t *testing.T) []readerCase {
	t.Helper()
	b, err := os.ReadFile("testdata/reader_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []readerCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// caseStatement is the LOAD DATA statement of a case.
func caseStatement(c readerCase) string {
	cols := make([]string, c.Columns)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d", i+1)
	}
	return fmt.Sprintf("LOAD DATA LOCAL INFILE 'case' INTO TABLE t CHARACTER SET binary %s (%s)", c.Clauses, strings.Join(cols, ", "))
}

// readAll reads a file as the gate would and returns what the table would
// hold and the reader's warnings, in the cases' form.
func readAll(r *Reader, columns int) ([][]*string, []string, error) {
	rows := [][]*string{}
	warnings := []string{}
	for n := 1; ; n++ {
		row, err := r.Next()
		if err == io.EOF {
			return rows, warnings, nil
		}
		if err != nil {
			return rows, warnings, err
		}
		out := make([]*string, columns)
		for i, f := range row.Fields {
			if !f.Null {
				v := string(f.Value)
				out[i] = &v
			}
		}
		for range columns - len(row.Fields) {
			warnings = append(warnings, fmt.Sprintf("1261 row %d", n))
		}
		if row.Truncated {
			warnings = append(warnings, fmt.Sprintf("1262 row %d", n))
		}
		rows = append(rows, out)
	}
}

func TestReaderCases(t *testing.T) {
	parser := sqlparser.NewTestParser()
	for _, c := range loadReaderCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			stmt, err := Parse(parser, caseStatement(c))
			if err != nil {
				t.Fatal(err)
			}
			if err := stmt.Check(); err != nil {
				t.Fatal(err)
			}
			// One byte at a time too: the reader must not depend on how
			// the input arrives.
			for _, in := range []io.Reader{strings.NewReader(c.Data), iotest.OneByteReader(strings.NewReader(c.Data))} {
				rows, warnings, err := readAll(NewReader(in, stmt.Format, c.Columns, stmt.IgnoreLines), c.Columns)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(rows, c.Rows) {
					t.Errorf("rows = %s, want %s", show(rows), show(c.Rows))
				}
				if !reflect.DeepEqual(warnings, c.Warnings) {
					t.Errorf("warnings = %q, want %q", warnings, c.Warnings)
				}
			}
		})
	}
}

func show(rows [][]*string) string {
	var b strings.Builder
	for _, row := range rows {
		b.WriteString("[")
		for i, v := range row {
			if i > 0 {
				b.WriteString(" ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", *v)
			}
		}
		b.WriteString("]")
	}
	return b.String()
}

func TestReaderRowBound(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("x", 100)+"\n"), DefaultFormat(), 1, 0)
	r.SetMaxRowBytes(10)
	if _, err := r.Next(); !errors.Is(err, ErrRowTooLarge) {
		t.Fatalf("Next = %v, want ErrRowTooLarge", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next after an error = %v, want io.EOF", err)
	}
}

func TestReaderInputError(t *testing.T) {
	boom := errors.New("connection reset")
	in := io.MultiReader(strings.NewReader("1\t2\n3\t"), iotest.ErrReader(boom))
	r := NewReader(in, DefaultFormat(), 2, 0)
	if row, err := r.Next(); err != nil || string(row.Fields[1].Value) != "2" {
		t.Fatalf("first row: %v, %v", row, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want the input's error", err)
	}
}

// TestReaderLargeFile reads a file much larger than its buffer: memory
// stays at one row and the buffer.
func TestReaderLargeFile(t *testing.T) {
	const rows = 200_000
	line := "12345\tsome text\t\\N\t\"quoted\"\n"
	r := NewReader(io.LimitReader(&repeatReader{s: line}, int64(rows*len(line))), DefaultFormat(), 4, 0)
	n := 0
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(row.Fields) != 4 || !row.Fields[2].Null || string(row.Fields[3].Value) != `"quoted"` {
			t.Fatalf("row %d: %+v", n, row)
		}
		n++
	}
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	if cap(r.buf) > 1024 {
		t.Fatalf("row buffer grew to %d bytes", cap(r.buf))
	}
}

// repeatReader repeats s forever.
type repeatReader struct {
	s   string
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

func BenchmarkReader(b *testing.B) {
	line := "12345\tsome text with a few words\t\\N\t2024-01-02 03:04:05\t3.14159\n"
	data := strings.Repeat(line, 10000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(strings.NewReader(data), DefaultFormat(), 5, 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// FuzzReader: no file and format make the Reader panic, loop, or return
// more rows than the file has bytes.
func FuzzReader(f *testing.F) {
	f.Add("a\tb\n\\N\t\"c\"\n", "\t", "", `\`, "", "\n", 2, uint8(0))
	f.Add(`"a,""b",c`+"\n"+`"x`, ",", `"`, `"`, "", "\r\n", 3, uint8(1))
	f.Add(">>a||b|>c", "||", "'", "", ">", "|", 1, uint8(2))
	f.Fuzz(func(t *testing.T, data, fieldTerm, enclosed, escaped, lineStart, lineTerm string, columns int, ignore uint8) {
		format := Format{FieldsTerminatedBy: fieldTerm, EnclosedBy: enclosed, EscapedBy: escaped,
			LinesStartingBy: lineStart, LinesTerminatedBy: lineTerm}
		if (&Statement{Local: true, Format: format}).Check() != nil || columns < 1 || columns > 16 {
			return
		}
		r := NewReader(strings.NewReader(data), format, columns, uint64(ignore))
		r.SetMaxRowBytes(1 << 12)
		for range len(data) + 2 {
			row, err := r.Next()
			if err != nil {
				return
			}
			if len(row.Fields) > columns {
				t.Fatalf("%d fields for %d columns", len(row.Fields), columns)
			}
		}
		t.Fatalf("more than %d rows from %d bytes", len(data)+1, len(data))
	})
}
