package sqlrouter

import (
	"context"
	"testing"

	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/vindex"
)

// fuzzShards are four shards covering the key space.
var fuzzShards = func() []Shard {
	var out []Shard
	for _, name := range []string{"-40", "40-80", "80-c0", "c0-"} {
		kr, err := vindex.ParseKeyRange(name)
		if err != nil {
			panic(err)
		}
		out = append(out, Shard{Name: name, KeyRange: kr})
	}
	return out
}()

// FuzzPlan: any statement the parser accepts gets a plan or an error from
// the planner, never a panic; a plan then runs as a dry run (no rows) to
// its end without a panic.
func FuzzPlan(f *testing.F) {
	for _, seed := range []string{
		"select * from customer where customer_id = 5",
		"select * from customer where customer_id in (1, -2, 'x', null) limit 3",
		"insert into customer (customer_id, email) values (1, 'a'), (:v1, ?)",
		"update customer set email = last_insert_id() where customer_id = -1",
		"delete from corder where customer_id = 0x10 order by 1 limit 1",
		"select @@version, connection_id(), database() from dual",
		"select * from main.t1 join main.t2 using (id) where x in (select 1)",
		"create table x (id int primary key)",
		"select c.email, n.name from customer c left join named n on n.name = c.email where c.customer_id = 1 limit 2",
		"select email, count(distinct sku), avg(customer_id) from customer group by email having avg(customer_id) > 1",
		"select email from customer where customer_id in (select customer_id from corder) union select sku from corder order by 1",
		"insert into account (name) values ('a')",
		"select d.e, count(*) from (select email as e from customer where customer_id > 3) as d group by d.e order by 2 desc limit 1, 2",
		"with t as (select customer_id, sum(amount) as s from corder group by customer_id) select c.email, t.s from customer c left join t on t.customer_id = c.customer_id",
		"select c.email, group_concat(distinct n.note order by n.note separator '|') from customer c join named n on n.name = c.email group by c.email",
		"select * from customer c right join named n using (name) join product p on p.sku = n.note where p.price > c.customer_id",
		"select c.email from customer c where exists (select 1 from named n where n.name = c.email) and c.name not in (select sku from product)",
		"select count(*) from customer union all select sum(amount) from corder union select 1 order by 1 limit 5",
		"select * from corder where id = 5 and sku in ('a', 'b')",
		"update corder set sku = 'x' where id = 3",
		"delete o from customer c join corder o on o.customer_id = c.customer_id where c.email = 'x'",
		"insert into corder (id, customer_id, sku) select customer_id, customer_id, email from customer where name like 'a%'",
		"select * from customer order by email limit ? offset ?",
		"explain format=json select count(*) from customer where customer_id in (1, 2) limit 1",
		"describe main.anything `x y`",
		"show full columns from customer from user like 'e%'",
		"insert into customer (customer_id, email) values (1, 'a'), (2, 'b') on duplicate key update customer_id = values(customer_id) returning customer_id, email",
		"delete from corder where id = 5 returning *",
	} {
		f.Add(seed, "user")
		f.Add(seed, "")
	}
	vs := testVSchema(&testing.T{})
	parser := sqlparser.NewTestParser()
	f.Fuzz(func(t *testing.T, sql, keyspace string) {
		stmt, err := parser.Parse(sql)
		if head, ok := WithoutReturning(sql); err != nil && ok {
			stmt, err = parser.Parse(head) // as the gate parses RETURNING
		}
		if err != nil {
			return
		}
		plan, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: keyspace, SQL: sql, Schema: testSchema})
		if err != nil {
			return
		}
		if plan.Primitive == nil {
			t.Fatalf("plan without a primitive for %q", sql)
		}
		dry := NewDryRun(func(string) ([]Shard, error) { return fuzzShards, nil })
		_, _ = plan.Execute(context.Background(), dry, map[string]*querypb.BindVariable{})
	})
}
