package backup

import (
	"testing"

	"github.com/shardgate/shardgate/proto/backuppb"
)

func testColumns(nameKind ...string) []*backuppb.Column {
	var cols []*backuppb.Column
	for i := 0; i+1 < len(nameKind); i += 2 {
		cols = append(cols, &backuppb.Column{Name: nameKind[i], Kind: nameKind[i+1]})
	}
	return cols
}

func TestProgressEstimatesByRows(t *testing.T) {
	p := newProgress("backup", nil)
	if s := p.snapshot(); s.EtaSeconds != -1 {
		t.Fatalf("ETA with nothing done: %v", s.EtaSeconds)
	}
	p.setTotals(1000, 100, 2)
	p.add(2000, 25) // more bytes than the estimate: rows decide
	p.tableDone()
	s := p.snapshot()
	if p.fraction() != 0.25 || s.TablesDone != 1 || s.RowsDone != 25 || s.EtaSeconds < 0 {
		t.Fatalf("progress: fraction %v, %+v", p.fraction(), s)
	}
	p.add(0, 500)
	if p.fraction() != 1 || p.snapshot().EtaSeconds != 0 {
		t.Fatal("past the estimate: done, no time left")
	}
}
