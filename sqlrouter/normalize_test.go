package sqlrouter

import (
	"testing"

	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"select email, 1, 'x' from customer where customer_id = 5 and email = 'a' order by 2 limit 3",
			"select email, 1, 'x' from customer where customer_id = :vtg1 and email = :vtg2 order by 2 asc limit 3"},
		{"select * from customer where customer_id in (1, 2, 3)", "select * from customer where customer_id in ::vtg4"},
		{"select * from customer where customer_id in (1, email)", "select * from customer where customer_id in (:vtg1, email)"},
		{"insert into customer (customer_id, email) values (1, 'a'), (2, null)", "insert into customer(customer_id, email) values (:vtg1, :vtg2), (:vtg3, null)"},
		{"update customer set email = 'b' where customer_id = 7", "update customer set email = :vtg1 where customer_id = :vtg2"},
		{"select count(*) from customer group by email having count(*) > 1", "select count(*) from customer group by email having count(*) > :vtg1"},
		{"select * from customer where d > date '2024-01-01' and b = 0x10 and f = 1.5e3", "select * from customer where d > date'2024-01-01' and b = 0x10 and f = 1.5e3"},
	}
	parser := sqlparser.NewTestParser()
	for _, c := range cases {
		stmt, err := parser.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		bv := map[string]*querypb.BindVariable{}
		Normalize(stmt, bv)
		if got := sqlparser.String(stmt); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestNormalizeNegativeNumbers(t *testing.T) {
	stmt, err := sqlparser.NewTestParser().Parse("insert into customer (customer_id, email) values (-5, 'a')")
	if err != nil {
		t.Fatal(err)
	}
	bv := map[string]*querypb.BindVariable{}
	Normalize(stmt, bv)
	if got := sqlparser.String(stmt); got != "insert into customer(customer_id, email) values (:vtg1, :vtg2)" {
		t.Fatalf("got %s", got)
	}
	if v := string(bv["vtg1"].Value); v != "-5" {
		t.Fatalf("vtg1 = %q, want -5", v)
	}
}

func TestNormalizeKeepsDecimals(t *testing.T) {
	stmt, err := sqlparser.NewTestParser().Parse("update customer set email = 'x' where balance = 2468.75 or balance = -0.5")
	if err != nil {
		t.Fatal(err)
	}
	bv := map[string]*querypb.BindVariable{}
	Normalize(stmt, bv)
	q, err := sqlparser.NewParsedQuery(stmt).GenerateQuery(bv, nil)
	if err != nil || q != "update customer set email = 'x' where balance = 2468.75 or balance = -0.5" {
		t.Fatalf("got %q, %v", q, err)
	}
}
