package queryconv

import (
	"errors"
	"fmt"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

func TestResultRoundTripKeepsTypesNullsAndBytes(t *testing.T) {
	in := &sqltypes.Result{
		Fields: []*vquerypb.Field{
			{Name: "id", Type: sqltypes.Int64, Flags: 32768},
			{Name: "price", Type: sqltypes.Decimal, Decimals: 2, ColumnLength: 12},
			{Name: "b", Type: sqltypes.VarBinary, Charset: 63},
			{Name: "s", Type: sqltypes.VarChar, Charset: 45},
		},
		Rows: []sqltypes.Row{
			{sqltypes.NewInt64(-7), sqltypes.NewDecimal("1.50"), sqltypes.MakeTrusted(sqltypes.VarBinary, []byte{0, 1, 255}), sqltypes.NewVarChar("ü€")},
			{sqltypes.NULL, sqltypes.NULL, sqltypes.MakeTrusted(sqltypes.VarBinary, []byte{}), sqltypes.NULL},
		},
		RowsAffected: 3, InsertID: 9,
	}
	out, err := ResultFromProto(ResultToProto(in))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) {
		t.Fatalf("round trip changed the result:\n in: %v\nout: %v", in, out)
	}
	if out.Rows[1][2].IsNull() {
		t.Fatal("an empty binary value must not turn into NULL")
	}
}

func TestMalformedRowIsAnError(t *testing.T) {
	p := ResultToProto(&sqltypes.Result{Fields: []*vquerypb.Field{{Name: "a", Type: sqltypes.VarChar}}, Rows: []sqltypes.Row{{sqltypes.NewVarChar("abc")}}})
	p.Rows[0].Lengths[0] = 10
	if _, err := ResultFromProto(p); err == nil {
		t.Fatal("a length past the row buffer must be an error, not a panic")
	}
}

func TestMySQLErrorCrossesGRPC(t *testing.T) {
	err := ErrorFromStatus(ErrorToStatus(sqlerror.NewSQLError(sqlerror.ERDupEntry, "23000", "Duplicate entry '1' for key 'PRIMARY'")))
	se, ok := err.(*sqlerror.SQLError)
	if !ok || se.Num != sqlerror.ERDupEntry || se.State != "23000" || se.Message != "Duplicate entry '1' for key 'PRIMARY'" {
		t.Fatalf("got %#v", err)
	}
}

func TestWrappedMySQLErrorKeepsItsContext(t *testing.T) {
	base := sqlerror.NewSQLError(sqlerror.ERQueryInterrupted, "70100", "statement killed")
	err := ErrorFromStatus(ErrorToStatus(fmt.Errorf("%w; transaction 7 was rolled back", base)))
	se, ok := err.(*sqlerror.SQLError)
	if !ok || se.Num != sqlerror.ERQueryInterrupted || se.Message != "statement killed; transaction 7 was rolled back" {
		t.Fatalf("got %#v", err)
	}
}

// Every reason survives the gRPC status, as its bytes cross the wire, with
// the MySQL error unchanged.
func TestErrorReasonsCrossGRPC(t *testing.T) {
	for num, name := range querypb.ErrorReason_name {
		base := sqlerror.NewSQLError(sqlerror.ERQueryInterrupted, "70100", "statement killed")
		sent := ErrorToStatus(fmt.Errorf("on shard x: %w", sqlerr.WithReason(querypb.ErrorReason(num), base)))
		st, _ := status.FromError(sent)
		wire, err := proto.Marshal(st.Proto())
		if err != nil {
			t.Fatal(err)
		}
		var decoded spb.Status
		if err := proto.Unmarshal(wire, &decoded); err != nil {
			t.Fatal(err)
		}
		got := ErrorFromStatus(status.FromProto(&decoded).Err())
		if r := sqlerr.ReasonOf(got); r != querypb.ErrorReason(num) {
			t.Errorf("%s: reason after the round trip = %v", name, r)
		}
		var se *sqlerror.SQLError
		if !errors.As(got, &se) || se.Num != sqlerror.ERQueryInterrupted || se.State != "70100" || se.Message != "on shard x: statement killed" {
			t.Errorf("%s: error = %#v, want 1317/70100 with the tablet's message", name, got)
		}
	}
}

func TestRowsSharingArraysStayApart(t *testing.T) {
	fields := []*vquerypb.Field{{Name: "a", Type: sqltypes.VarChar}, {Name: "b", Type: sqltypes.VarChar}}
	in := []sqltypes.Row{
		{sqltypes.NewVarChar("x"), sqltypes.NULL},
		{sqltypes.NewVarChar("yy"), sqltypes.NewVarChar("z")},
	}
	p := RowsToProto(in)
	_ = append(p[0].Lengths, 7)
	_ = append(p[0].Values, '!')
	if p[1].Lengths[0] != 2 || string(p[1].Values) != "yyz" {
		t.Fatalf("appending to one packed row changed the next: %v", p[1])
	}
	out, err := RowsFromProto(fields, p)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(out[0], sqltypes.NewVarChar("extra"))
	if out[1][0].ToString() != "yy" || out[1][1].ToString() != "z" || !out[0][1].IsNull() {
		t.Fatalf("appending to one row changed the next: %v", out)
	}
}
