package connpool

import (
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"
)

func TestServerClosingErrorsBreakTheConnection(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{sqlerror.NewSQLErrorf(1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes"), true},
		{sqlerror.NewSQLErrorf(1158, "08S01", "Got an error reading communication packets"), true},
		{sqlerror.NewSQLErrorf(2006, "HY000", "MySQL server has gone away"), true},
		{sqlerror.NewSQLErrorf(1062, "23000", "Duplicate entry"), false},
	} {
		conn := &Conn{}
		NoteError(conn, c.err)
		if conn.broken != c.want {
			t.Errorf("%v: broken = %v, want %v", c.err, conn.broken, c.want)
		}
	}
}
