package queryconv

import (
	"fmt"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
)

// BindVariablesFromProto converts a gRPC client's parameters to the
// planner's, checking each value against its type: a number must parse as
// one, because numbers are written into the shards' SQL unquoted.
func BindVariablesFromProto(in map[string]*gatepb.BindVariable) (map[string]*vquerypb.BindVariable, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]*vquerypb.BindVariable, len(in))
	for name, bv := range in {
		if bv == nil {
			return nil, fmt.Errorf("parameter %s has no value", name)
		}
		v := &vquerypb.BindVariable{Type: vquerypb.Type(bv.Type), Value: bv.Value}
		if bv.Type == querypb.Type_TUPLE {
			v.Value = nil
			v.Values = make([]*vquerypb.Value, len(bv.Values))
			for i, e := range bv.Values {
				if err := clientType(e.Type); err != nil {
					return nil, fmt.Errorf("parameter %s, value %d: %w", name, i+1, err)
				}
				v.Values[i] = &vquerypb.Value{Type: vquerypb.Type(e.Type), Value: e.Value}
			}
		} else if err := clientType(bv.Type); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		if err := sqltypes.ValidateBindVariable(v); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// clientType refuses the types that are pieces of SQL syntax rather than
// values (hex and bit literals, expressions, tuples inside tuples).
func clientType(t querypb.Type) error {
	switch t {
	case querypb.Type_HEXNUM, querypb.Type_HEXVAL, querypb.Type_BITNUM, querypb.Type_EXPRESSION, querypb.Type_TUPLE:
		return fmt.Errorf("type %s is not a value type", t)
	}
	return nil
}
