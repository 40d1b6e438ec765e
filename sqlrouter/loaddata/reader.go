package loaddata

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxRowBytes bounds the data of one row the Reader holds.
const DefaultMaxRowBytes = 64 << 20

// ErrRowTooLarge is returned by Reader.Next for a row whose data exceeds
// the Reader's bound (a file without its line terminator, read as one
// endless row).
var ErrRowTooLarge = errors.New("a row of the file is larger than the gate reads in one piece")

// Field is one field of a row.
type Field struct {
	// Value is the field's bytes, unescaped; it is valid until the next
	// call of Next.
	Value []byte
	// Null: the field was \N (the escape character and N), or the word
	// NULL not enclosed when the format has an enclosing character.
	Null bool
}

// Row is one row of the file.
type Row struct {
	// Fields are the fields read for the row's targets, in order: as many
	// as the Reader was asked for, fewer when the line ended first (MariaDB
	// then warns 1261 for each column left without data).
	Fields []Field
	// Truncated: the line had more data than the targets took; it was
	// dropped (MariaDB's warning 1262).
	Truncated bool
}

// Reader reads rows from a file in MariaDB's LOAD DATA format, as
// sql_load.cc's READ_INFO and read_sep_field do, byte for byte. It holds
// at most one row and a buffered window of its input.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	in      *bufio.Reader
	inEOF   bool
	err     error
	stack   []int // bytes pushed back, read last in first out
	columns int
	maxRow  int

	fieldTerm, lineTerm, lineStart []byte
	enclosed, escape               int
	// skipByLines: IGNORE n LINES skips lines before the first row (the
	// statement has a line terminator); otherwise it skips n rows.
	skipByLines bool
	skip        uint64
	started     bool
	done        bool

	foundEndOfLine, eof, startOfLine bool
	lineCut                          bool
	// of the field just read:
	foundNull, fieldEnclosed bool

	buf   []byte // the row's field data
	spans []span
	row   Row
}

type span struct {
	start, end int
	null       bool
}

const (
	eofByte = -1 // get's answer at the end of the input
	noByte  = -2 // an empty separator, enclosure or escape: matches nothing
)

// NewReader reads rows of columns fields (the statement's targets) from in,
// after skipping ignoreLines lines (IGNORE n LINES). f must have passed
// Statement.Check (ASCII separators, one-byte enclosure and escape, not
// both the field terminator and the enclosure empty). The escape
// character is f.EscapedBy as given: a caller whose session has
// NO_BACKSLASH_ESCAPES clears it unless f.EscapedGiven.
func NewReader(in io.Reader, f Format, columns int, ignoreLines uint64) *Reader {
	r := &Reader{
		in:          bufio.NewReaderSize(in, 64<<10),
		columns:     columns,
		maxRow:      DefaultMaxRowBytes,
		fieldTerm:   []byte(f.FieldsTerminatedBy),
		lineTerm:    []byte(f.LinesTerminatedBy),
		lineStart:   []byte(f.LinesStartingBy),
		enclosed:    noByte,
		escape:      noByte,
		skipByLines: f.LinesTerminatedBy != "",
		skip:        ignoreLines,
		startOfLine: f.LinesStartingBy != "",
	}
	if f.FieldsTerminatedBy == f.LinesTerminatedBy {
		// MariaDB then ends lines only by the field count.
		r.lineTerm = nil
	}
	if f.EnclosedBy != "" {
		r.enclosed = int(f.EnclosedBy[0])
	}
	if f.EscapedBy != "" {
		r.escape = int(f.EscapedBy[0])
	}
	return r
}

// SetMaxRowBytes changes the bound on one row's data (DefaultMaxRowBytes).
func (r *Reader) SetMaxRowBytes(n int) { r.maxRow = n }

// Next returns the next row, valid until the next call, or io.EOF after
// the last. Any other error is the input's (or ErrRowTooLarge); the Reader
// is then done.
func (r *Reader) Next() (*Row, error) {
	if !r.started {
		r.started = true
		if r.skipByLines {
			for r.skip > 0 {
				r.skip--
				if r.nextLine() {
					break
				}
			}
		}
	}
	for {
		if r.done {
			return nil, io.EOF
		}
		r.buf, r.spans = r.buf[:0], r.spans[:0]
		for len(r.spans) < r.columns {
			start, ok := r.readField()
			if !ok {
				break
			}
			v := r.buf[start:]
			null := !r.fieldEnclosed && r.enclosed != noByte && string(v) == "NULL" || len(v) == 1 && r.foundNull
			r.spans = append(r.spans, span{start: start, end: len(r.buf), null: null})
		}
		if r.err != nil {
			r.done = true
			return nil, r.err
		}
		if r.skip > 0 {
			// Rows skipped without a line terminator: the next row goes on
			// where this one stopped.
			r.skip--
			continue
		}
		if len(r.spans) == 0 && r.columns > 0 {
			r.done = true // no field at all: the file has ended
			return nil, io.EOF
		}
		r.row.Fields = r.row.Fields[:0]
		for _, s := range r.spans {
			r.row.Fields = append(r.row.Fields, Field{Value: r.buf[s.start:s.end:s.end], Null: s.null})
		}
		r.row.Truncated = false
		if r.nextLine() {
			r.done = true
		} else {
			r.row.Truncated = r.lineCut
		}
		return &r.row, nil
	}
}

// get reads the next byte, eofByte at the end of the input (or after an
// error, which r.err keeps).
func (r *Reader) get() int {
	if n := len(r.stack); n > 0 {
		c := r.stack[n-1]
		r.stack = r.stack[:n-1]
		return c
	}
	if r.inEOF {
		return eofByte
	}
	c, err := r.in.ReadByte()
	if err != nil {
		r.inEOF = true
		if err != io.EOF && r.err == nil {
			r.err = err
		}
		return eofByte
	}
	return int(c)
}

func (r *Reader) push(c int) { r.stack = append(r.stack, c) }

// terminator reports whether the input continues with term[1:] (term[0]
// was just read); when not, what it read is pushed back.
func (r *Reader) terminator(term []byte) bool {
	i := 1
	c := 0
	for ; i < len(term); i++ {
		if c = r.get(); c != int(term[i]) {
			break
		}
	}
	if i == len(term) {
		return true
	}
	r.push(c)
	for ; i > 1; i-- {
		r.push(int(term[i-1]))
	}
	return false
}

// isTerminator reports whether c and what follows it are term.
func (r *Reader) isTerminator(c int, term []byte) bool {
	return len(term) > 0 && c == int(term[0]) && r.terminator(term)
}

// unescape is the byte an escape sequence stands for; \N marks the field
// NULL (when it is the whole field).
func (r *Reader) unescape(c int) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case '0':
		return 0
	case 'Z':
		return 032
	case 'N':
		r.foundNull = true
	}
	return byte(c)
}

// appendByte adds a byte to the row, failing the read when the row
// outgrows the bound.
func (r *Reader) appendByte(c byte) bool {
	if len(r.buf) >= r.maxRow {
		if r.err == nil {
			r.err = fmt.Errorf("%w (%d bytes)", ErrRowTooLarge, r.maxRow)
		}
		return false
	}
	r.buf = append(r.buf, c)
	return true
}

// readField reads one field into r.buf and returns where its value
// starts; false when the line (or the file) has no more fields.
func (r *Reader) readField() (start int, ok bool) {
	r.foundNull = false
	if r.foundEndOfLine {
		return 0, false
	}
	if r.startOfLine {
		r.startOfLine = false
		if r.findStartOfFields() {
			return 0, false
		}
	}
	c := r.get()
	if c == eofByte {
		r.foundEndOfLine, r.eof = true, true
		return 0, false
	}
	start = len(r.buf)
	quote := noByte
	if c == r.enclosed {
		quote = c
		if !r.appendByte(byte(c)) { // kept in case the field never closes
			return 0, false
		}
	} else {
		r.push(c)
	}
	for {
		c = r.get()
		if c == eofByte {
			break
		}
		if c == r.escape {
			next := r.get()
			if next == eofByte {
				if !r.appendByte(byte(c)) {
					return 0, false
				}
				break
			}
			// With the escape character also the enclosure, it only
			// doubles itself (ENCLOSED BY '"' ESCAPED BY '"').
			if r.escape != r.enclosed || next == r.escape {
				if !r.appendByte(r.unescape(next)) {
					return 0, false
				}
				continue
			}
			r.push(next)
		}
		if quote == noByte && r.isTerminator(c, r.lineTerm) {
			r.fieldEnclosed, r.foundEndOfLine = false, true
			return start, true
		}
		if c == quote {
			next := r.get()
			if next == quote { // a doubled enclosure is one
				if !r.appendByte(byte(next)) {
					return 0, false
				}
				continue
			}
			if next == eofByte || r.isTerminator(next, r.lineTerm) {
				r.fieldEnclosed, r.foundEndOfLine = true, true
				return start + 1, true
			}
			if r.isTerminator(next, r.fieldTerm) {
				r.fieldEnclosed = true
				return start + 1, true
			}
			r.push(next) // an enclosure inside the field is data
		} else if quote == noByte && r.isTerminator(c, r.fieldTerm) {
			r.fieldEnclosed = false
			return start, true
		}
		if !r.appendByte(byte(c)) {
			return 0, false
		}
	}
	// The input ended: the field is what was read, an unclosed enclosure
	// included.
	r.fieldEnclosed = false
	r.foundEndOfLine, r.eof = true, true
	return start, true
}

// findStartOfFields skips to just after the next LINES STARTING BY; true
// when the input ends first.
func (r *Reader) findStartOfFields() bool {
	for c := r.get(); c != eofByte; c = r.get() {
		if r.isTerminator(c, r.lineStart) {
			return false
		}
	}
	r.foundEndOfLine, r.eof = true, true
	return true
}

// nextLine moves past the end of the current line, noting whether it held
// more data (lineCut); true at the end of the input.
func (r *Reader) nextLine() bool {
	r.lineCut = false
	r.startOfLine = len(r.lineStart) > 0
	if r.foundEndOfLine || r.eof {
		r.foundEndOfLine = false
		return r.eof
	}
	if len(r.lineTerm) == 0 {
		return false
	}
	for {
		c := r.get()
		if c == eofByte {
			r.eof = true
			return true
		}
		if c == r.escape {
			r.lineCut = true
			if r.get() == eofByte {
				r.eof = true
				return true
			}
			continue
		}
		if r.isTerminator(c, r.lineTerm) {
			return false
		}
		r.lineCut = true
	}
}
