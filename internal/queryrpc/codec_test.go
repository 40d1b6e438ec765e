package queryrpc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shardgate/shardgate/proto/querypb"
)

// TestCodecCoversEveryField fails when a field is added to a message that
// codec.go encodes by hand: add it there (and here) too.
func TestCodecCoversEveryField(t *testing.T) {
	handled := map[proto.Message][]string{
		&querypb.ExecuteResponse{}:      {"result"},
		&querypb.BeginExecuteResponse{}: {"transaction_id", "result", "tablet_alias"},
		&querypb.QueryResult{}:          {"fields", "rows_affected", "insert_id", "rows", "info", "warnings", "warning_list"},
		&querypb.Warning{}:              {"level", "code", "message"},
		&querypb.Row{}:                  {"lengths", "values"},
		&querypb.Field{}: {"name", "type", "table", "org_table", "database", "org_name",
			"column_length", "charset", "decimals", "flags", "column_type"},
	}
	for msg, want := range handled {
		fields := msg.ProtoReflect().Descriptor().Fields()
		var got []string
		for i := range fields.Len() {
			got = append(got, string(fields.Get(i).Name()))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s has fields %v; codec.go handles %v", msg.ProtoReflect().Descriptor().FullName(), got, want)
		}
	}
}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return ""
	}
	return fmt.Sprintf("s%d€", r.IntN(1000))
}

func randomResult(r *rand.Rand) *querypb.QueryResult {
	res := &querypb.QueryResult{
		RowsAffected: uint64(r.IntN(3)) * r.Uint64(),
		InsertId:     uint64(r.IntN(2)) * r.Uint64(),
		Info:         []byte(randomString(r)),
		Warnings:     uint32(r.IntN(3)),
	}
	for range r.IntN(3) {
		res.WarningList = append(res.WarningList, &querypb.Warning{Level: randomString(r), Code: uint32(r.IntN(4000)), Message: []byte(randomString(r))})
	}
	cols := r.IntN(4)
	for range cols {
		res.Fields = append(res.Fields, &querypb.Field{
			Name: randomString(r), Type: []querypb.Type{querypb.Type_INT64, querypb.Type_VARCHAR, querypb.Type_NULL_TYPE, -1}[r.IntN(4)],
			Table: randomString(r), OrgTable: randomString(r), Database: randomString(r), OrgName: randomString(r),
			ColumnLength: r.Uint32() * uint32(r.IntN(2)), Charset: uint32(r.IntN(300)), Decimals: uint32(r.IntN(2)),
			Flags: uint32(r.IntN(70000)), ColumnType: randomString(r),
		})
	}
	for range r.IntN(5) {
		row := &querypb.Row{}
		for range cols {
			switch r.IntN(3) {
			case 0:
				row.Lengths = append(row.Lengths, -1)
			default:
				v := []byte(randomString(r))
				row.Lengths = append(row.Lengths, int64(len(v)))
				row.Values = append(row.Values, v...)
			}
		}
		res.Rows = append(res.Rows, row)
	}
	if r.IntN(5) == 0 {
		return nil
	}
	return res
}

// TestCodecMatchesGeneratedCode: what the hand-written code writes, the
// generated code reads, and the other way round.
func TestCodecMatchesGeneratedCode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var msg, fast, generic proto.Message
		if i%2 == 0 {
			msg = &querypb.ExecuteResponse{Result: randomResult(r)}
			fast, generic = &querypb.ExecuteResponse{}, &querypb.ExecuteResponse{}
		} else {
			msg = &querypb.BeginExecuteResponse{TransactionId: r.Int64() - r.Int64(), Result: randomResult(r), TabletAlias: randomString(r)}
			fast, generic = &querypb.BeginExecuteResponse{}, &querypb.BeginExecuteResponse{}
		}
		enc, err := appendFast(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != sizeFast(msg) {
			t.Fatalf("size %d, encoded %d bytes", sizeFast(msg), len(enc))
		}
		if err := proto.Unmarshal(enc, generic); err != nil {
			t.Fatalf("generated code cannot read the hand-written encoding: %v", err)
		}
		if !proto.Equal(msg, generic) {
			t.Fatalf("hand-written encoding read back differently:\nwant %v\ngot  %v", msg, generic)
		}
		std, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := unmarshalFast(std, fast); err != nil {
			t.Fatalf("cannot read the generated encoding: %v", err)
		}
		if !proto.Equal(msg, fast) {
			t.Fatalf("generated encoding read back differently:\nwant %v\ngot  %v", msg, fast)
		}
	}
}

func TestCodecRefusesInvalidUTF8(t *testing.T) {
	msg := &querypb.ExecuteResponse{Result: &querypb.QueryResult{Fields: []*querypb.Field{{Name: "\xff"}}}}
	if _, err := appendFast(nil, msg); err == nil {
		t.Fatal("encoding a name that is not UTF-8 must fail, as the generated code does")
	}
}

func TestDecodedRowsDoNotOverlap(t *testing.T) {
	msg := &querypb.ExecuteResponse{Result: &querypb.QueryResult{
		Fields: []*querypb.Field{{Name: "a"}, {Name: "b"}},
		Rows:   []*querypb.Row{{Lengths: []int64{1, 1}, Values: []byte("xy")}, {Lengths: []int64{-1, 2}, Values: []byte("zz")}},
	}}
	enc, _ := appendFast(nil, msg)
	got := &querypb.ExecuteResponse{}
	if err := unmarshalFast(enc, got); err != nil {
		t.Fatal(err)
	}
	rows := got.Result.Rows
	_ = append(rows[0].Lengths, 99)
	_ = append(rows[0].Values, '!')
	if rows[1].Lengths[0] != -1 || string(rows[1].Values) != "zz" {
		t.Fatalf("appending to one row changed the next: %v", rows[1])
	}
}

// dropUnknown clears the unknown fields the generated code keeps aside and
// the hand-written decoder skips.
func dropUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				dropUnknown(v.List().Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			dropUnknown(v.Message())
		}
		return true
	})
}

// FuzzCodec: any bytes decode to what the generated code decodes, or to an
// error when it fails too; never a panic.
func FuzzCodec(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, _ := proto.Marshal(&querypb.BeginExecuteResponse{TransactionId: 7, Result: randomResult(r), TabletAlias: "zone1-100"})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pair := range [][2]proto.Message{
			{&querypb.ExecuteResponse{}, &querypb.ExecuteResponse{}},
			{&querypb.BeginExecuteResponse{}, &querypb.BeginExecuteResponse{}},
		} {
			fast, generic := pair[0], pair[1]
			ferr := unmarshalFast(data, fast)
			gerr := proto.Unmarshal(data, generic)
			if (ferr == nil) != (gerr == nil) {
				t.Fatalf("hand-written decoding error %v, generated %v", ferr, gerr)
			}
			if ferr != nil {
				continue
			}
			dropUnknown(generic.ProtoReflect())
			if !proto.Equal(fast, generic) {
				t.Fatalf("decoded differently:\nhand-written %v\ngenerated    %v", fast, generic)
			}
		}
	})
}

func BenchmarkCodec100Rows(b *testing.B) {
	res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "c", Type: querypb.Type_CHAR, Table: "sbtest1", OrgTable: "sbtest1", Database: "sbtest", OrgName: "c", ColumnLength: 480, Charset: 45}}}
	for i := range 100 {
		v := fmt.Appendf(nil, "%0120d", i)
		res.Rows = append(res.Rows, &querypb.Row{Lengths: []int64{int64(len(v))}, Values: v})
	}
	msg := &querypb.ExecuteResponse{Result: res}
	buf := make([]byte, 0, 64<<10)
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc, _ := proto.MarshalOptions{}.MarshalAppend(buf[:0], msg)
			_ = proto.Unmarshal(enc, &querypb.ExecuteResponse{})
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc, _ := appendFast(buf[:0], msg)
			_ = unmarshalFast(enc, &querypb.ExecuteResponse{})
		}
	})
}
