package queryrpc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/shardgate/shardgate/proto/querypb"
)

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

// vtEncode encodes msg as writeFrame does.
func vtEncode(t testing.TB, msg message) []byte {
	buf := make([]byte, msg.SizeVT())
	if n, err := msg.MarshalToSizedBufferVT(buf); err != nil || n != len(buf) {
		t.Fatalf("encode %T: %d of %d bytes, %v", msg, n, len(buf), err)
	}
	return buf
}

// TestFramesAreProtobuf: what the query port writes, protobuf-go (and so a
// gRPC peer) reads, and the other way round, for every answer with rows.
func TestFramesAreProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var msg, vt, generic message
		switch i % 3 {
		case 0:
			msg = &querypb.ExecuteResponse{Result: randomResult(r)}
			vt, generic = &querypb.ExecuteResponse{}, &querypb.ExecuteResponse{}
		case 1:
			msg = &querypb.BeginExecuteResponse{TransactionId: r.Int64() - r.Int64(), Result: randomResult(r), TabletAlias: randomString(r)}
			vt, generic = &querypb.BeginExecuteResponse{}, &querypb.BeginExecuteResponse{}
		default:
			msg = &querypb.ReserveExecuteResponse{ReservedId: r.Int64(), Result: randomResult(r), TabletAlias: randomString(r)}
			vt, generic = &querypb.ReserveExecuteResponse{}, &querypb.ReserveExecuteResponse{}
		}
		enc := vtEncode(t, msg)
		if err := proto.Unmarshal(enc, generic.(proto.Message)); err != nil {
			t.Fatalf("protobuf-go cannot read the frame's encoding: %v", err)
		}
		if !proto.Equal(msg.(proto.Message), generic.(proto.Message)) {
			t.Fatalf("frame read back differently by protobuf-go:\nwant %v\ngot  %v", msg, generic)
		}
		std, err := proto.Marshal(msg.(proto.Message))
		if err != nil {
			t.Fatal(err)
		}
		if err := vt.UnmarshalVTUnsafe(std); err != nil {
			t.Fatalf("cannot read protobuf-go's encoding: %v", err)
		}
		if !proto.Equal(msg.(proto.Message), vt.(proto.Message)) {
			t.Fatalf("protobuf-go's encoding read back differently:\nwant %v\ngot  %v", msg, vt)
		}
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

// FuzzFrameDecoding: any bytes decode in place to what protobuf-go
// decodes, or fail; never a panic. (The generated code does not check that
// strings are UTF-8, which protobuf-go refuses; MySQL's names need not be.)
func FuzzFrameDecoding(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, _ := proto.Marshal(&querypb.BeginExecuteResponse{TransactionId: 7, Result: randomResult(r), TabletAlias: "zone1-100"})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, pair := range [][2]message{
			{&querypb.ExecuteResponse{}, &querypb.ExecuteResponse{}},
			{&querypb.BeginExecuteResponse{}, &querypb.BeginExecuteResponse{}},
		} {
			vt, generic := pair[0], pair[1].(proto.Message)
			verr := vt.UnmarshalVTUnsafe(data)
			gerr := proto.Unmarshal(data, generic)
			if verr != nil || gerr != nil {
				continue
			}
			dropUnknown(generic.ProtoReflect())
			dropUnknown(vt.(proto.Message).ProtoReflect())
			if !proto.Equal(vt.(proto.Message), generic) {
				t.Fatalf("decoded differently:\nin place     %v\nprotobuf-go  %v", vt, generic)
			}
		}
	})
}

// BenchmarkCodec100Rows encodes and decodes a 100-row answer (sysbench's
// 120-byte CHAR column) with protobuf-go's reflection and with the
// generated code the frames use.
func BenchmarkCodec100Rows(b *testing.B) {
	msg := &querypb.ExecuteResponse{Result: sysbenchResult(100)}
	buf := make([]byte, 0, 64<<10)
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc, _ := proto.MarshalOptions{}.MarshalAppend(buf[:0], msg)
			_ = proto.Unmarshal(enc, &querypb.ExecuteResponse{})
		}
	})
	b.Run("vtproto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := buf[:msg.SizeVT()]
			_, _ = msg.MarshalToSizedBufferVT(enc)
			_ = (&querypb.ExecuteResponse{}).UnmarshalVTUnsafe(enc)
		}
	})
}

// An answer decoded in place keeps only its row values in the frame: what
// the gate may keep longer (names, info, warnings, the alias) is copied.
func TestDecodeInPlaceKeepsOnlyRowsInTheFrame(t *testing.T) {
	want := &querypb.BeginExecuteResponse{TransactionId: 7, TabletAlias: "zone1-100", Result: &querypb.QueryResult{
		Fields:      []*querypb.Field{{Name: "id", Table: "t", OrgTable: "t", Database: "ks", OrgName: "id", ColumnType: "int(11)"}, {Name: "c"}},
		Rows:        []*querypb.Row{{Lengths: []int64{1, -1}, Values: []byte("7")}},
		Info:        []byte("Rows matched: 1"),
		WarningList: []*querypb.Warning{{Level: "Note", Code: 1003, Message: []byte("a note")}, {Level: "Warning", Code: 1265}},
	}}
	frame := vtEncode(t, want)
	got := &querypb.BeginExecuteResponse{}
	if err := decodeInPlace(frame, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	for i := range frame {
		frame[i] = 'X'
	}
	got.Result.Rows = nil // they alias the frame, by design
	want.Result.Rows = nil
	if !proto.Equal(got, want) {
		t.Fatalf("overwriting the frame changed what must be copied out of it: %v", got)
	}
	// Byte fields sharing one copy must not overlap.
	_ = append(got.Result.Info, '!')
	if string(got.Result.WarningList[0].Message) != "a note" {
		t.Fatal("appending to info changed a warning")
	}
}
