package loaddata

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// Parse reads a LOAD DATA statement, MariaDB's grammar:
//
//	LOAD DATA [LOW_PRIORITY | CONCURRENT] [LOCAL] INFILE 'file'
//	    [REPLACE | IGNORE] INTO TABLE [db.]tbl [PARTITION (p, ...)]
//	    [CHARACTER SET cs]
//	    [{FIELDS | COLUMNS} [TERMINATED BY 's'] [[OPTIONALLY] ENCLOSED BY 'c'] [ESCAPED BY 'c']]
//	    [LINES [STARTING BY 's'] [TERMINATED BY 's']]
//	    [IGNORE n {LINES | ROWS}]
//	    [(col_or_@var, ...)]
//	    [SET col = expr, ...]
//
// It uses Vitess's tokenizer, so strings, escapes, quoted identifiers and
// comments read as everywhere else in the gate; the SET expressions are
// parsed by Vitess's parser. A statement that does not follow the grammar
// is error 1064; Parse accepts clauses the gate then refuses (Check).
func Parse(parser *sqlparser.Parser, sql string) (*Statement, error) {
	p := &parseState{sql: sql, tkn: parser.NewStringTokenizer(sql), parser: parser}
	p.next()
	stmt, err := p.statement()
	if err != nil {
		return nil, err
	}
	return stmt, nil
}

// token is one token of the statement.
type token struct {
	typ int
	val string
	// quoted: an identifier in backquotes (never a keyword).
	quoted bool
	// end is the offset just after the token.
	end int
}

type parseState struct {
	sql    string
	tkn    *sqlparser.Tokenizer
	parser *sqlparser.Parser
	cur    token
}

// next moves to the next token that is not a comment.
func (p *parseState) next() {
	for {
		typ, val := p.tkn.Scan()
		if typ == sqlparser.COMMENT {
			continue
		}
		end := min(p.tkn.Pos, len(p.sql))
		quoted := typ == sqlparser.ID && end > 0 && p.sql[end-1] == '`'
		p.cur = token{typ: typ, val: val, quoted: quoted, end: end}
		return
	}
}

// syntaxError is MariaDB's 1064 for the current token.
func (p *parseState) syntaxError() error {
	near := p.cur.val
	switch {
	case p.cur.typ == 0:
		near = "end of statement"
	case near == "" && p.cur.typ < 0x100:
		near = string(rune(p.cur.typ))
	}
	return sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError,
		"You have an error in your SQL syntax; LOAD DATA: syntax error at position %d near '%s'", p.cur.end, near)
}

// isWord reports whether the current token is the keyword w (any case;
// a quoted identifier is never a keyword).
func (p *parseState) isWord(w string) bool {
	return !p.cur.quoted && p.cur.typ != sqlparser.STRING && p.cur.typ != 0 && strings.EqualFold(p.cur.val, w)
}

func (p *parseState) acceptWord(w string) bool {
	if p.isWord(w) {
		p.next()
		return true
	}
	return false
}

func (p *parseState) expectWord(w string) error {
	if !p.acceptWord(w) {
		return p.syntaxError()
	}
	return nil
}

func (p *parseState) accept(ch int) bool {
	if p.cur.typ == ch {
		p.next()
		return true
	}
	return false
}

// identifier reads a name: an identifier, quoted or not, or a keyword
// used as one (a table called status).
func (p *parseState) identifier() (string, error) {
	t := p.cur
	switch t.typ {
	case sqlparser.ID:
	case sqlparser.STRING, sqlparser.NCHAR_STRING, sqlparser.HEX, sqlparser.BIT_LITERAL, sqlparser.AT_ID, sqlparser.AT_AT_ID, sqlparser.LEX_ERROR:
		return "", p.syntaxError()
	default:
		if t.typ < 0x100 || !isWord(t.val) {
			return "", p.syntaxError()
		}
	}
	p.next()
	return t.val, nil
}

// isWord reports whether a keyword token's text is a bare word: a letter
// or underscore, then letters, digits, underscores.
func isWord(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' || s[0] == '$' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80) {
			return false
		}
	}
	return true
}

// text reads a separator or other text argument: a string, or a hex or
// bit literal (x'0a', 0x0a, b'1010', 0b1010), as MariaDB's text_string.
func (p *parseState) text() (string, error) {
	t := p.cur
	var out string
	switch t.typ {
	case sqlparser.STRING:
		out = t.val
	case sqlparser.HEX:
		b, err := hex.DecodeString(t.val)
		if err != nil {
			return "", p.syntaxError()
		}
		out = string(b)
	case sqlparser.HEXNUM:
		digits := t.val[2:]
		if digits == "" {
			return "", p.syntaxError()
		}
		if len(digits)%2 == 1 {
			digits = "0" + digits
		}
		b, err := hex.DecodeString(digits)
		if err != nil {
			return "", p.syntaxError()
		}
		out = string(b)
	case sqlparser.BIT_LITERAL, sqlparser.BITNUM:
		digits := strings.TrimPrefix(strings.TrimPrefix(t.val, "0b"), "0B")
		if t.typ == sqlparser.BITNUM && digits == "" {
			return "", p.syntaxError()
		}
		out = bitString(digits)
	default:
		return "", p.syntaxError()
	}
	p.next()
	return out, nil
}

// bitString is the bytes of a bit literal: its value, big-endian, in as
// many bytes as its digits need.
func bitString(digits string) string {
	if digits == "" {
		return ""
	}
	n, _ := new(big.Int).SetString(digits, 2)
	b := n.Bytes()
	size := (len(digits) + 7) / 8
	for len(b) < size {
		b = append([]byte{0}, b...)
	}
	return string(b)
}

func (p *parseState) statement() (*Statement, error) {
	if err := p.expectWord("load"); err != nil {
		return nil, err
	}
	if err := p.expectWord("data"); err != nil {
		return nil, err
	}
	s := &Statement{Format: DefaultFormat()}
	if !p.acceptWord("low_priority") {
		p.acceptWord("concurrent")
	}
	s.Local = p.acceptWord("local")
	if err := p.expectWord("infile"); err != nil {
		return nil, err
	}
	if p.cur.typ != sqlparser.STRING {
		return nil, p.syntaxError()
	}
	s.File = p.cur.val
	p.next()
	switch {
	case p.acceptWord("replace"):
		s.Duplicates = DuplicatesReplace
	case p.acceptWord("ignore"):
		s.Duplicates = DuplicatesIgnore
	}
	if err := p.expectWord("into"); err != nil {
		return nil, err
	}
	if err := p.expectWord("table"); err != nil {
		return nil, err
	}
	name, err := p.identifier()
	if err != nil {
		return nil, err
	}
	s.Table = name
	if p.accept('.') {
		if s.Table, err = p.identifier(); err != nil {
			return nil, err
		}
		s.Keyspace = name
	}
	if p.acceptWord("partition") {
		if !p.accept('(') {
			return nil, p.syntaxError()
		}
		for {
			part, err := p.identifier()
			if err != nil {
				return nil, err
			}
			s.Partitions = append(s.Partitions, part)
			if !p.accept(',') {
				break
			}
		}
		if !p.accept(')') {
			return nil, p.syntaxError()
		}
	}
	if err := p.charset(s); err != nil {
		return nil, err
	}
	if err := p.fields(s); err != nil {
		return nil, err
	}
	if err := p.lines(s); err != nil {
		return nil, err
	}
	if p.acceptWord("ignore") {
		if p.cur.typ != sqlparser.INTEGRAL {
			return nil, p.syntaxError()
		}
		n, err := strconv.ParseUint(p.cur.val, 10, 64)
		if err != nil {
			return nil, p.syntaxError()
		}
		p.next()
		if !p.acceptWord("lines") && !p.acceptWord("rows") {
			return nil, p.syntaxError()
		}
		s.IgnoreLines = n
	}
	if p.accept('(') {
		if err := p.targets(s); err != nil {
			return nil, err
		}
	}
	if p.isWord("set") {
		// The SET list runs to the end of the statement: Vitess's parser
		// reads it as an UPDATE's.
		if err := p.set(s, p.sql[p.cur.end:]); err != nil {
			return nil, err
		}
		return s, nil
	}
	p.accept(';')
	if p.cur.typ != 0 {
		return nil, p.syntaxError()
	}
	return s, nil
}

// charset reads [CHARACTER SET | CHAR SET | CHARSET] name.
func (p *parseState) charset(s *Statement) error {
	switch {
	case p.acceptWord("character"), p.acceptWord("char"):
		if err := p.expectWord("set"); err != nil {
			return err
		}
	case p.acceptWord("charset"):
	default:
		return nil
	}
	if p.cur.typ == sqlparser.STRING {
		s.Charset = strings.ToLower(p.cur.val)
		p.next()
		return nil
	}
	name, err := p.identifier()
	if err != nil {
		return err
	}
	s.Charset = strings.ToLower(name)
	return nil
}

// fields reads {FIELDS | COLUMNS} followed by one or more of TERMINATED BY,
// [OPTIONALLY] ENCLOSED BY and ESCAPED BY, in any order (the last of each
// holds).
func (p *parseState) fields(s *Statement) error {
	if !p.acceptWord("fields") && !p.acceptWord("columns") {
		return nil
	}
	for n := 0; ; n++ {
		var into *string
		switch {
		case p.acceptWord("terminated"):
			into = &s.Format.FieldsTerminatedBy
		case p.acceptWord("optionally"):
			if !p.isWord("enclosed") {
				return p.syntaxError()
			}
			s.Format.OptionallyEnclosed = true
			continue
		case p.acceptWord("enclosed"):
			into = &s.Format.EnclosedBy
		case p.acceptWord("escaped"):
			into = &s.Format.EscapedBy
			s.Format.EscapedGiven = true
		default:
			if n == 0 {
				return p.syntaxError()
			}
			return nil
		}
		if err := p.expectWord("by"); err != nil {
			return err
		}
		v, err := p.text()
		if err != nil {
			return err
		}
		*into = v
	}
}

// lines reads LINES followed by one or more of STARTING BY and TERMINATED
// BY, in any order.
func (p *parseState) lines(s *Statement) error {
	if !p.acceptWord("lines") {
		return nil
	}
	for n := 0; ; n++ {
		var into *string
		switch {
		case p.acceptWord("terminated"):
			into = &s.Format.LinesTerminatedBy
		case p.acceptWord("starting"):
			into = &s.Format.LinesStartingBy
		default:
			if n == 0 {
				return p.syntaxError()
			}
			return nil
		}
		if err := p.expectWord("by"); err != nil {
			return err
		}
		v, err := p.text()
		if err != nil {
			return err
		}
		*into = v
	}
}

// targets reads the column list after its '(': columns and @variables.
// An empty list, as in MariaDB, is no list: every column.
func (p *parseState) targets(s *Statement) error {
	if p.accept(')') {
		return nil
	}
	for {
		if p.cur.typ == sqlparser.AT_ID {
			if p.cur.val == "" {
				return p.syntaxError()
			}
			s.Targets = append(s.Targets, Target{Name: p.cur.val, Variable: true})
			p.next()
		} else {
			name, err := p.identifier()
			if err != nil {
				return err
			}
			if p.cur.typ == '.' {
				return sqlerr.Unsupported("a qualified column name (%s.%s) in LOAD DATA's column list", name, p.sql[p.cur.end:min(len(p.sql), p.cur.end+64)])
			}
			s.Targets = append(s.Targets, Target{Name: name})
		}
		if p.accept(')') {
			return nil
		}
		if !p.accept(',') {
			return p.syntaxError()
		}
	}
}

// set parses the SET list, which runs to the end of the statement.
func (p *parseState) set(s *Statement, rest string) error {
	stmt, err := p.parser.Parse("update t set " + rest)
	if err != nil {
		return sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax; LOAD DATA ... SET: %v", err)
	}
	upd, ok := stmt.(*sqlparser.Update)
	if !ok || upd.Where != nil || len(upd.OrderBy) > 0 || upd.Limit != nil || len(upd.Exprs) == 0 {
		return sqlerr.New(sqlerror.ERParseError, sqlerror.SSClientError, "You have an error in your SQL syntax; LOAD DATA ... SET takes only assignments: %s", strings.TrimSpace(rest))
	}
	for _, e := range upd.Exprs {
		if !e.Name.Qualifier.IsEmpty() {
			return sqlerr.Unsupported("a qualified column name (%s) in LOAD DATA's SET", sqlparser.String(e.Name))
		}
	}
	s.Set = upd.Exprs
	return nil
}

// String renders the statement (for logs and tests).
func (s *Statement) String() string {
	var b strings.Builder
	b.WriteString("LOAD DATA ")
	if s.Local {
		b.WriteString("LOCAL ")
	}
	fmt.Fprintf(&b, "INFILE %q", s.File)
	switch s.Duplicates {
	case DuplicatesReplace:
		b.WriteString(" REPLACE")
	case DuplicatesIgnore:
		b.WriteString(" IGNORE")
	}
	b.WriteString(" INTO TABLE ")
	if s.Keyspace != "" {
		b.WriteString(s.Keyspace + ".")
	}
	b.WriteString(s.Table)
	if len(s.Partitions) > 0 {
		fmt.Fprintf(&b, " PARTITION (%s)", strings.Join(s.Partitions, ", "))
	}
	if s.Charset != "" {
		b.WriteString(" CHARACTER SET " + s.Charset)
	}
	f := s.Format
	fmt.Fprintf(&b, " FIELDS TERMINATED BY %q ", f.FieldsTerminatedBy)
	if f.OptionallyEnclosed {
		b.WriteString("OPTIONALLY ")
	}
	fmt.Fprintf(&b, "ENCLOSED BY %q ESCAPED BY %q LINES STARTING BY %q TERMINATED BY %q", f.EnclosedBy, f.EscapedBy, f.LinesStartingBy, f.LinesTerminatedBy)
	if s.IgnoreLines > 0 {
		fmt.Fprintf(&b, " IGNORE %d LINES", s.IgnoreLines)
	}
	if s.Targets != nil {
		names := make([]string, len(s.Targets))
		for i, t := range s.Targets {
			names[i] = t.Name
			if t.Variable {
				names[i] = "@" + t.Name
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(names, ", "))
	}
	if len(s.Set) > 0 {
		b.WriteString(" SET " + sqlparser.String(s.Set))
	}
	return b.String()
}
