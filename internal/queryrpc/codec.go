package queryrpc

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shardgate/shardgate/proto/querypb"
)

// The answers to Execute and BeginExecute are most of the bytes that cross
// a query connection, and a 100-row answer is 100 Row messages. The
// generic protobuf code spends more time on them than everything else the
// gate does for the statement: it marshals by reflection, and unmarshals
// every row into three allocations of its own. This file encodes and
// decodes exactly the same protobuf wire format by hand: the rows of an
// answer are decoded into one array of Row messages, one array of lengths
// and values that alias the frame (which the answer then owns), so an
// answer costs a handful of allocations whatever its size. Peers using
// the generated code (or gRPC) read and write the same bytes.
//
// Every field of the messages handled here must be handled here:
// TestCodecCoversEveryField fails when one is added to query.proto.

// Field numbers, from query.proto.
const (
	executeResponseResult = 1

	beginExecuteResponseTransactionID = 1
	beginExecuteResponseResult        = 2
	beginExecuteResponseTabletAlias   = 3

	queryResultFields       = 1
	queryResultRowsAffected = 2
	queryResultInsertID     = 3
	queryResultRows         = 4
	queryResultInfo         = 5
	queryResultWarnings     = 6
	queryResultWarningList  = 7

	warningLevel   = 1
	warningCode    = 2
	warningMessage = 3

	rowLengths = 1
	rowValues  = 2

	fieldName         = 1
	fieldType         = 2
	fieldTable        = 3
	fieldOrgTable     = 4
	fieldDatabase     = 5
	fieldOrgName      = 6
	fieldColumnLength = 7
	fieldCharset      = 8
	fieldDecimals     = 9
	fieldFlags        = 10
	fieldColumnType   = 11
)

var errInvalidUTF8 = errors.New("string field contains invalid UTF-8")

// fastMessage reports whether msg has a hand-written encoding.
func fastMessage(msg any) bool {
	switch msg.(type) {
	case *querypb.ExecuteResponse, *querypb.BeginExecuteResponse:
		return true
	}
	return false
}

// sizeFast returns the encoded size of a message fastMessage accepts.
func sizeFast(msg any) int {
	switch m := msg.(type) {
	case *querypb.ExecuteResponse:
		return sizeMessageField(executeResponseResult, m.Result)
	case *querypb.BeginExecuteResponse:
		return sizeVarintField(beginExecuteResponseTransactionID, uint64(m.TransactionId)) +
			sizeMessageField(beginExecuteResponseResult, m.Result) +
			sizeStringField(beginExecuteResponseTabletAlias, m.TabletAlias)
	}
	panic(fmt.Sprintf("queryrpc: no hand-written encoding for %T", msg))
}

// appendFast appends the encoding of a message fastMessage accepts.
func appendFast(b []byte, msg any) ([]byte, error) {
	switch m := msg.(type) {
	case *querypb.ExecuteResponse:
		return appendResultField(b, executeResponseResult, m.Result)
	case *querypb.BeginExecuteResponse:
		b = appendVarintField(b, beginExecuteResponseTransactionID, uint64(m.TransactionId))
		b, err := appendResultField(b, beginExecuteResponseResult, m.Result)
		if err != nil {
			return nil, err
		}
		return appendStringField(b, beginExecuteResponseTabletAlias, m.TabletAlias)
	}
	return nil, fmt.Errorf("queryrpc: no hand-written encoding for %T", msg)
}

// unmarshalFast decodes b into a message fastMessage accepts. Row values of
// the answer alias b, which must not change afterwards.
func unmarshalFast(b []byte, msg any) error {
	switch m := msg.(type) {
	case *querypb.ExecuteResponse:
		return consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			if num == executeResponseResult && typ == protowire.BytesType {
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return n, nil
				}
				if m.Result == nil {
					m.Result = &querypb.QueryResult{}
				}
				return n, decodeQueryResult(v, m.Result)
			}
			return skipField, nil
		})
	case *querypb.BeginExecuteResponse:
		return consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			switch {
			case num == beginExecuteResponseTransactionID && typ == protowire.VarintType:
				v, n := protowire.ConsumeVarint(b)
				m.TransactionId = int64(v)
				return n, nil
			case num == beginExecuteResponseResult && typ == protowire.BytesType:
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return n, nil
				}
				if m.Result == nil {
					m.Result = &querypb.QueryResult{}
				}
				return n, decodeQueryResult(v, m.Result)
			case num == beginExecuteResponseTabletAlias && typ == protowire.BytesType:
				return consumeString(b, &m.TabletAlias)
			}
			return skipField, nil
		})
	}
	return fmt.Errorf("queryrpc: no hand-written decoding for %T", msg)
}

// sizes

func sizeVarintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeStringField(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func sizeBytesField(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func sizeMessageField(num protowire.Number, r *querypb.QueryResult) int {
	if r == nil {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(sizeQueryResult(r))
}

func sizeQueryResult(r *querypb.QueryResult) int {
	n := sizeVarintField(queryResultRowsAffected, r.RowsAffected) +
		sizeVarintField(queryResultInsertID, r.InsertId) +
		sizeBytesField(queryResultInfo, r.Info) +
		sizeVarintField(queryResultWarnings, uint64(r.Warnings))
	for _, w := range r.WarningList {
		n += protowire.SizeTag(queryResultWarningList) + protowire.SizeBytes(sizeWarning(w))
	}
	for _, f := range r.Fields {
		n += protowire.SizeTag(queryResultFields) + protowire.SizeBytes(sizeField(f))
	}
	for _, row := range r.Rows {
		n += protowire.SizeTag(queryResultRows) + protowire.SizeBytes(sizeRow(row))
	}
	return n
}

func sizeField(f *querypb.Field) int {
	return sizeStringField(fieldName, f.Name) +
		sizeVarintField(fieldType, uint64(f.Type)) +
		sizeStringField(fieldTable, f.Table) +
		sizeStringField(fieldOrgTable, f.OrgTable) +
		sizeStringField(fieldDatabase, f.Database) +
		sizeStringField(fieldOrgName, f.OrgName) +
		sizeVarintField(fieldColumnLength, uint64(f.ColumnLength)) +
		sizeVarintField(fieldCharset, uint64(f.Charset)) +
		sizeVarintField(fieldDecimals, uint64(f.Decimals)) +
		sizeVarintField(fieldFlags, uint64(f.Flags)) +
		sizeStringField(fieldColumnType, f.ColumnType)
}

func sizeWarning(w *querypb.Warning) int {
	return sizeStringField(warningLevel, w.Level) +
		sizeVarintField(warningCode, uint64(w.Code)) +
		sizeBytesField(warningMessage, w.Message)
}

func packedLengthsSize(lengths []int64) int {
	n := 0
	for _, l := range lengths {
		n += protowire.SizeVarint(protowire.EncodeZigZag(l))
	}
	return n
}

func sizeRow(r *querypb.Row) int {
	n := 0
	if len(r.Lengths) > 0 {
		n += protowire.SizeTag(rowLengths) + protowire.SizeBytes(packedLengthsSize(r.Lengths))
	}
	if len(r.Values) > 0 {
		n += protowire.SizeTag(rowValues) + protowire.SizeBytes(len(r.Values))
	}
	return n
}

// encoding

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) ([]byte, error) {
	if s == "" {
		return b, nil
	}
	if !utf8.ValidString(s) {
		return nil, errInvalidUTF8
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s), nil
}

// appendBytesField writes a bytes field: any bytes (MySQL's info text
// may hold them), no UTF-8 check.
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendResultField(b []byte, num protowire.Number, r *querypb.QueryResult) ([]byte, error) {
	if r == nil {
		return b, nil
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(sizeQueryResult(r)))
	return appendQueryResult(b, r)
}

func appendQueryResult(b []byte, r *querypb.QueryResult) ([]byte, error) {
	var err error
	for _, f := range r.Fields {
		b = protowire.AppendTag(b, queryResultFields, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeField(f)))
		if b, err = appendField(b, f); err != nil {
			return nil, err
		}
	}
	b = appendVarintField(b, queryResultRowsAffected, r.RowsAffected)
	b = appendVarintField(b, queryResultInsertID, r.InsertId)
	for _, row := range r.Rows {
		b = protowire.AppendTag(b, queryResultRows, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeRow(row)))
		if len(row.Lengths) > 0 {
			b = protowire.AppendTag(b, rowLengths, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(packedLengthsSize(row.Lengths)))
			for _, l := range row.Lengths {
				b = protowire.AppendVarint(b, protowire.EncodeZigZag(l))
			}
		}
		if len(row.Values) > 0 {
			b = protowire.AppendTag(b, rowValues, protowire.BytesType)
			b = protowire.AppendBytes(b, row.Values)
		}
	}
	b = appendBytesField(b, queryResultInfo, r.Info)
	b = appendVarintField(b, queryResultWarnings, uint64(r.Warnings))
	for _, w := range r.WarningList {
		b = protowire.AppendTag(b, queryResultWarningList, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeWarning(w)))
		if b, err = appendStringField(b, warningLevel, w.Level); err != nil {
			return nil, err
		}
		b = appendVarintField(b, warningCode, uint64(w.Code))
		b = appendBytesField(b, warningMessage, w.Message)
	}
	return b, nil
}

func appendField(b []byte, f *querypb.Field) ([]byte, error) {
	var err error
	if b, err = appendStringField(b, fieldName, f.Name); err != nil {
		return nil, err
	}
	b = appendVarintField(b, fieldType, uint64(f.Type))
	for _, s := range []struct {
		num protowire.Number
		s   string
	}{{fieldTable, f.Table}, {fieldOrgTable, f.OrgTable}, {fieldDatabase, f.Database}, {fieldOrgName, f.OrgName}} {
		if b, err = appendStringField(b, s.num, s.s); err != nil {
			return nil, err
		}
	}
	b = appendVarintField(b, fieldColumnLength, uint64(f.ColumnLength))
	b = appendVarintField(b, fieldCharset, uint64(f.Charset))
	b = appendVarintField(b, fieldDecimals, uint64(f.Decimals))
	b = appendVarintField(b, fieldFlags, uint64(f.Flags))
	return appendStringField(b, fieldColumnType, f.ColumnType)
}

// decoding

// skipField is what a field decoder returns for a field it does not know
// (protowire's error codes are small negative numbers).
const skipField = math.MinInt32

// consumeFields calls field for every field of the message in b. field
// returns how many bytes of the value it consumed (negative: a protowire
// error code), or skipField for a field it does not know, which is skipped
// (as the generated code keeps it aside).
func consumeFields(b []byte, field func(num protowire.Number, typ protowire.Type, b []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return errors.New("invalid field number")
		}
		b = b[n:]
		n, err := field(num, typ, b)
		if err != nil {
			return err
		}
		if n == skipField {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

func consumeString(b []byte, s *string) (int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n, nil
	}
	if !utf8.Valid(v) {
		return 0, errInvalidUTF8
	}
	*s = string(v)
	return n, nil
}

func consumeBytes(b []byte, v *[]byte) int {
	data, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	*v = append((*v)[:0], data...)
	return n
}

func consumeVarint[T ~uint32 | ~uint64 | ~int32](b []byte, typ protowire.Type, out *T) int {
	if typ != protowire.VarintType {
		return skipField
	}
	v, n := protowire.ConsumeVarint(b)
	*out = T(v)
	return n
}

// decodeQueryResult decodes a QueryResult into r (merging, as protobuf
// does when a message field occurs twice). Its rows share three arrays:
// the Row messages, their lengths, and (aliased from b) their values.
func decodeQueryResult(b []byte, r *querypb.QueryResult) error {
	// First pass: count the fields and rows, so that each gets its place
	// in one allocation.
	nFields, nRows, nLengths := 0, 0, 0
	err := consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		if typ != protowire.BytesType || (num != queryResultFields && num != queryResultRows) {
			return skipField, nil
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return n, nil
		}
		if num == queryResultFields {
			nFields++
			return n, nil
		}
		nRows++
		// A row's lengths come first in the rows this package and the
		// generated code write; they are counted as an upper bound on
		// the varints of its packed field.
		if tnum, ttyp, tn := protowire.ConsumeTag(v); tn > 0 && tnum == rowLengths && ttyp == protowire.BytesType {
			if packed, pn := protowire.ConsumeBytes(v[tn:]); pn > 0 {
				nLengths += len(packed)
			}
		}
		return n, nil
	})
	if err != nil {
		return err
	}
	var fields []querypb.Field
	if nFields > 0 {
		fields = make([]querypb.Field, 0, nFields)
		r.Fields = slices.Grow(r.Fields, nFields)
	}
	var rows []querypb.Row
	var lengths []int64
	if nRows > 0 {
		rows = make([]querypb.Row, 0, nRows)
		r.Rows = slices.Grow(r.Rows, nRows)
		lengths = make([]int64, 0, nLengths)
	}
	return consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case queryResultFields, queryResultRows:
			if typ != protowire.BytesType {
				return skipField, nil
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return n, nil
			}
			if num == queryResultFields {
				if len(fields) == cap(fields) {
					return 0, errors.New("malformed query result: fields changed between passes")
				}
				fields = fields[:len(fields)+1]
				f := &fields[len(fields)-1]
				r.Fields = append(r.Fields, f)
				return n, decodeField(v, f)
			}
			if len(rows) == cap(rows) {
				return 0, errors.New("malformed query result: rows changed between passes")
			}
			rows = rows[:len(rows)+1]
			row := &rows[len(rows)-1]
			r.Rows = append(r.Rows, row)
			var err error
			lengths, err = decodeRow(v, row, lengths)
			return n, err
		case queryResultRowsAffected:
			return consumeVarint(b, typ, &r.RowsAffected), nil
		case queryResultInsertID:
			return consumeVarint(b, typ, &r.InsertId), nil
		case queryResultInfo:
			if typ != protowire.BytesType {
				return skipField, nil
			}
			return consumeBytes(b, &r.Info), nil
		case queryResultWarnings:
			return consumeVarint(b, typ, &r.Warnings), nil
		case queryResultWarningList:
			if typ != protowire.BytesType {
				return skipField, nil
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return n, nil
			}
			w := &querypb.Warning{}
			r.WarningList = append(r.WarningList, w)
			return n, decodeWarning(v, w)
		}
		return skipField, nil
	})
}

func decodeWarning(b []byte, w *querypb.Warning) error {
	return consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case warningLevel:
			if typ != protowire.BytesType {
				return skipField, nil
			}
			return consumeString(b, &w.Level)
		case warningCode:
			return consumeVarint(b, typ, &w.Code), nil
		case warningMessage:
			if typ != protowire.BytesType {
				return skipField, nil
			}
			return consumeBytes(b, &w.Message), nil
		}
		return skipField, nil
	})
}

// decodeRow decodes a Row whose values alias b and whose lengths are
// appended to lengths (a row's own slice is capped, so that appending to
// it cannot overwrite the next row's).
func decodeRow(b []byte, row *querypb.Row, lengths []int64) ([]int64, error) {
	start := len(lengths)
	err := consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch {
		case num == rowLengths && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return n, nil
			}
			for len(packed) > 0 {
				v, vn := protowire.ConsumeVarint(packed)
				if vn < 0 {
					return vn, nil
				}
				lengths = append(lengths, protowire.DecodeZigZag(v))
				packed = packed[vn:]
			}
			return n, nil
		case num == rowLengths && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n >= 0 {
				lengths = append(lengths, protowire.DecodeZigZag(v))
			}
			return n, nil
		case num == rowValues && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return n, nil
			}
			// Repeated occurrences of a bytes field: the last one wins.
			row.Values = v[:len(v):len(v)]
			return n, nil
		}
		return skipField, nil
	})
	if len(lengths) > start {
		row.Lengths = lengths[start:len(lengths):len(lengths)]
	}
	return lengths, err
}

func decodeField(b []byte, f *querypb.Field) error {
	return consumeFields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		var s *string
		switch num {
		case fieldName:
			s = &f.Name
		case fieldTable:
			s = &f.Table
		case fieldOrgTable:
			s = &f.OrgTable
		case fieldDatabase:
			s = &f.Database
		case fieldOrgName:
			s = &f.OrgName
		case fieldColumnType:
			s = &f.ColumnType
		case fieldType:
			return consumeVarint(b, typ, &f.Type), nil
		case fieldColumnLength:
			return consumeVarint(b, typ, &f.ColumnLength), nil
		case fieldCharset:
			return consumeVarint(b, typ, &f.Charset), nil
		case fieldDecimals:
			return consumeVarint(b, typ, &f.Decimals), nil
		case fieldFlags:
			return consumeVarint(b, typ, &f.Flags), nil
		default:
			return skipField, nil
		}
		if typ != protowire.BytesType {
			return skipField, nil
		}
		return consumeString(b, s)
	})
}
