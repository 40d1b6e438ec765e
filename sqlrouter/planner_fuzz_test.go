package sqlrouter

import (
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"
)

// FuzzPlan: any statement the parser accepts gets a plan or an error from
// the planner, never a panic.
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
	} {
		f.Add(seed, "user")
		f.Add(seed, "")
	}
	vs := testVSchema(&testing.T{})
	parser := sqlparser.NewTestParser()
	f.Fuzz(func(t *testing.T, sql, keyspace string) {
		stmt, err := parser.Parse(sql)
		if err != nil {
			return
		}
		plan, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: keyspace, SQL: sql})
		if err == nil && plan.Primitive == nil {
			t.Fatalf("plan without a primitive for %q", sql)
		}
	})
}
