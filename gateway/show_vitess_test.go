package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/proto/topopb"
)

func TestShowClusterStatements(t *testing.T) {
	e := testExecutor(t, nil)
	s := &Session{TabletType: topopb.TabletType_PRIMARY, Autocommit: true}
	rows := func(sql string) string {
		t.Helper()
		stmt, err := e.parser.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		show, ok := stmt.(*sqlparser.Show)
		if !ok {
			t.Fatalf("%s parses as %T", sql, stmt)
		}
		res, err := e.show(context.Background(), s, show, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var out []string
		for _, r := range res.Rows {
			var cells []string
			for _, v := range r {
				cells = append(cells, v.ToString())
			}
			out = append(out, strings.Join(cells, " "))
		}
		return strings.Join(out, "; ")
	}
	for sql, want := range map[string]string{
		"show keyspaces":                    "ks; main",
		"show vitess_shards":                "ks/-80; ks/80-; main/0",
		"show vitess_shards like 'ks/%'":    "ks/-80; ks/80-",
		"show vitess_shards like '%80%'":    "ks/-80; ks/80-",
		"show vitess_shards like 'KS_-80'":  "ks/-80",
		"show keyspaces like 'm%'":          "main",
		"show vitess_tablets like 'main/%'": "zone1 main 0 PRIMARY SERVING zone1-100  ",
		"show vitess_tablets like 'zone1-1%'": fmt.Sprint("zone1 main 0 PRIMARY SERVING zone1-100  ; ",
			"zone1 ks -80 PRIMARY SERVING zone1-101  ; zone1 ks 80- PRIMARY SERVING zone1-102  "),
	} {
		if got := rows(sql); got != want {
			t.Errorf("%s:\n got  %q\n want %q", sql, got, want)
		}
	}
}
