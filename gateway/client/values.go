package client

import (
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"
	"time"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
)

// bindVariables turns database/sql arguments into typed parameters: the
// n-th positional argument is v<n> (what "?" is named), a named one
// (sql.Named) keeps its name (":name" in the statement).
func bindVariables(args []driver.NamedValue, loc *time.Location) (map[string]*vquerypb.BindVariable, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make(map[string]*vquerypb.BindVariable, len(args))
	for _, a := range args {
		name := a.Name
		if name == "" {
			name = "v" + strconv.Itoa(a.Ordinal)
		}
		bv, err := bindVariable(a.Value, loc)
		if err != nil {
			return nil, fmt.Errorf("shardgate: parameter %s: %w", name, err)
		}
		out[name] = bv
	}
	return out, nil
}

// bindVariable types one value: the types database/sql hands drivers, and
// uint64 (CheckNamedValue lets it through whole).
func bindVariable(v driver.Value, loc *time.Location) (*vquerypb.BindVariable, error) {
	switch v := v.(type) {
	case nil:
		return sqltypes.NullBindVariable, nil
	case int64:
		return sqltypes.Int64BindVariable(v), nil
	case uint64:
		return sqltypes.Uint64BindVariable(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a number MySQL can store", v)
		}
		return sqltypes.Float64BindVariable(v), nil
	case bool:
		if v {
			return sqltypes.Int64BindVariable(1), nil
		}
		return sqltypes.Int64BindVariable(0), nil
	case string:
		return sqltypes.StringBindVariable(v), nil
	case []byte:
		return sqltypes.BytesBindVariable(v), nil
	case time.Time:
		return &vquerypb.BindVariable{Type: sqltypes.Datetime, Value: formatTime(v, loc)}, nil
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}

// formatTime writes t as a DATETIME literal in loc, with the fraction of
// a second it has (microseconds at most); the zero time is MySQL's zero
// date.
func formatTime(t time.Time, loc *time.Location) []byte {
	if t.IsZero() {
		return []byte("0000-00-00")
	}
	t = t.In(loc)
	b := t.AppendFormat(nil, "2006-01-02 15:04:05.999999")
	return b
}
