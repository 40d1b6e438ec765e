// Package queryconv converts results and errors between the forms the MySQL
// protocol code uses (Vitess's sqltypes and sqlerror) and the forms that
// cross gRPC between gate and tablet (proto/querypb). Both sides of that
// link use it, so what a tablet reads from MySQL is what a client gets.
package queryconv

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"vitess.io/vitess/go/mysql/sqlerror"
	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
)

// FieldsToProto converts column metadata. The Type enums share their
// numbers, so types convert by cast.
func FieldsToProto(fields []*vquerypb.Field) []*querypb.Field {
	if len(fields) == 0 {
		return nil
	}
	out := make([]*querypb.Field, len(fields))
	for i, f := range fields {
		out[i] = &querypb.Field{
			Name:         f.Name,
			Type:         querypb.Type(f.Type),
			Table:        f.Table,
			OrgTable:     f.OrgTable,
			Database:     f.Database,
			OrgName:      f.OrgName,
			ColumnLength: f.ColumnLength,
			Charset:      f.Charset,
			Decimals:     f.Decimals,
			Flags:        f.Flags,
			ColumnType:   f.ColumnType,
		}
	}
	return out
}

// FieldsFromProto is the inverse of FieldsToProto.
func FieldsFromProto(fields []*querypb.Field) []*vquerypb.Field {
	if len(fields) == 0 {
		return nil
	}
	out := make([]*vquerypb.Field, len(fields))
	for i, f := range fields {
		out[i] = &vquerypb.Field{
			Name:         f.Name,
			Type:         vquerypb.Type(f.Type),
			Table:        f.Table,
			OrgTable:     f.OrgTable,
			Database:     f.Database,
			OrgName:      f.OrgName,
			ColumnLength: f.ColumnLength,
			Charset:      f.Charset,
			Decimals:     f.Decimals,
			Flags:        f.Flags,
			ColumnType:   f.ColumnType,
		}
	}
	return out
}

// RowsToProto packs rows. The rows share three allocations (their
// messages, lengths and values), each row's slices capped to its own part.
func RowsToProto(rows []sqltypes.Row) []*querypb.Row {
	if len(rows) == 0 {
		return nil
	}
	nValues, size := 0, 0
	for _, row := range rows {
		nValues += len(row)
		for _, v := range row {
			size += v.Len()
		}
	}
	msgs := make([]querypb.Row, len(rows))
	lengths := make([]int64, nValues)
	values := make([]byte, 0, size)
	out := make([]*querypb.Row, len(rows))
	for i, row := range rows {
		l := lengths[:len(row):len(row)]
		lengths = lengths[len(row):]
		start := len(values)
		for j, v := range row {
			if v.IsNull() {
				l[j] = -1
				continue
			}
			l[j] = int64(v.Len())
			values = append(values, v.Raw()...)
		}
		msgs[i].Lengths = l
		msgs[i].Values = values[start:len(values):len(values)]
		out[i] = &msgs[i]
	}
	return out
}

// RowToProto packs one row: lengths (-1 for NULL) and the values back to
// back.
func RowToProto(row sqltypes.Row) *querypb.Row {
	size := 0
	for _, v := range row {
		size += v.Len()
	}
	lengths := make([]int64, len(row))
	values := make([]byte, 0, size)
	for i, v := range row {
		if v.IsNull() {
			lengths[i] = -1
			continue
		}
		lengths[i] = int64(v.Len())
		values = append(values, v.Raw()...)
	}
	return &querypb.Row{Lengths: lengths, Values: values}
}

// RowsFromProto unpacks rows; value types come from fields. The values
// alias the row buffers (no copy), and the rows share one array of values,
// each row capped to its own part.
func RowsFromProto(fields []*vquerypb.Field, rows []*querypb.Row) ([]sqltypes.Row, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	out := make([]sqltypes.Row, len(rows))
	values := make([]sqltypes.Value, len(rows)*len(fields))
	for i, r := range rows {
		row := values[i*len(fields) : (i+1)*len(fields) : (i+1)*len(fields)]
		if err := rowFromProto(fields, r, row); err != nil {
			return nil, err
		}
		out[i] = row
	}
	return out, nil
}

var errBadRow = errors.New("malformed row from tablet: lengths do not match values or fields")

// RowFromProto unpacks one row.
func RowFromProto(fields []*vquerypb.Field, r *querypb.Row) (sqltypes.Row, error) {
	row := make(sqltypes.Row, len(fields))
	if err := rowFromProto(fields, r, row); err != nil {
		return nil, err
	}
	return row, nil
}

// rowFromProto unpacks r into row, which has one value per field.
func rowFromProto(fields []*vquerypb.Field, r *querypb.Row, row sqltypes.Row) error {
	if len(r.Lengths) != len(fields) {
		return errBadRow
	}
	offset := int64(0)
	for j, l := range r.Lengths {
		if l < 0 {
			row[j] = sqltypes.NULL
			continue
		}
		end := offset + l
		if end > int64(len(r.Values)) {
			return errBadRow
		}
		// The slice is capped so that an append by a consumer cannot
		// overwrite the next value.
		row[j] = sqltypes.MakeTrusted(fields[j].Type, r.Values[offset:end:end])
		offset = end
	}
	return nil
}

// ResultToProto converts a whole result.
func ResultToProto(r *sqltypes.Result) *querypb.QueryResult {
	if r == nil {
		return nil
	}
	return &querypb.QueryResult{
		Fields:       FieldsToProto(r.Fields),
		RowsAffected: r.RowsAffected,
		InsertId:     r.InsertID,
		Rows:         RowsToProto(r.Rows),
		Info:         []byte(r.Info),
	}
}

// ResultFromProto converts a whole result.
func ResultFromProto(r *querypb.QueryResult) (*sqltypes.Result, error) {
	if r == nil {
		return &sqltypes.Result{}, nil
	}
	fields := FieldsFromProto(r.Fields)
	rows, err := RowsFromProto(fields, r.Rows)
	if err != nil {
		return nil, err
	}
	return &sqltypes.Result{
		Fields:       fields,
		RowsAffected: r.RowsAffected,
		InsertID:     r.InsertId,
		Rows:         rows,
		Info:         string(r.Info),
	}, nil
}

// ErrorToStatus turns an error into a gRPC status that carries the MySQL
// error code, SQLSTATE, message and reason (sqlerr.ToProto) as a detail.
func ErrorToStatus(err error) error {
	if err == nil {
		return nil
	}
	var inner *sqlerror.SQLError
	if !errors.As(err, &inner) {
		return status.Error(codes.Unknown, err.Error())
	}
	// sqlerr.From keeps the context wrapped around the MySQL error.
	se := sqlerr.From(err)
	// The status message must be UTF-8; the detail carries MySQL's bytes.
	st := status.New(grpcCode(se.Num), strings.ToValidUTF8(se.Message, "?"))
	withDetail, derr := st.WithDetails(sqlerr.ToProto(err))
	if derr != nil {
		return st.Err()
	}
	return withDetail.Err()
}

// ErrorFromStatus recovers the MySQL error a tablet sent, with its reason
// (sqlerr.FromProto); other gRPC errors
// (tablet unreachable, deadline) are returned unchanged for the caller to
// classify.
func ErrorFromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if me, ok := d.(*querypb.MySQLError); ok {
			return sqlerr.FromProto(me)
		}
	}
	return err
}

func grpcCode(num sqlerror.ErrorCode) codes.Code {
	switch num {
	case sqlerror.ERQueryInterrupted:
		return codes.Canceled
	case 1969:
		return codes.DeadlineExceeded
	case sqlerror.ERAccessDeniedError:
		return codes.Unauthenticated
	default:
		return codes.Unknown
	}
}
