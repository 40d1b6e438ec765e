# Queries answered by one plain MariaDB and by the 4-shard cluster; the
# answers must match exactly (in order when the query has ORDER BY, which
# then always ends in a unique key so that ties cannot reorder rows).
#
# A line starting with "%" is a query the gate refuses by design (error
# 1235 naming what it does not support); it is not run on the reference.
#
# A line starting with "~" groups text under a case- and accent-insensitive
# collation: which spelling represents a group ('Ann' or 'ann') is not
# specified by MySQL, so text is compared case- and accent-folded there.
#
# A line starting with "^" compares only the columns of the answers (their
# names and types, and what database/sql tells of them), for answers whose
# rows differ by design (EXPLAIN's estimates, one row per shard).
#
# A line "? ARGS | QUERY" runs QUERY as a prepared statement with the
# parameters ARGS, typed by a prefix: i:-1 (BIGINT), u:1 (BIGINT UNSIGNED),
# f:2.5 (DOUBLE), s:10 (a string; s: is the empty one), n (NULL).

# Routed to one shard.
select * from customer where id = 17
select name, email from customer where id = -3
select * from orders where customer_id = 42 order by id
select count(*), sum(amount), min(placed), max(status) from orders where customer_id = 7
select * from customer where id in (1, 2, 3, 250, 999) order by id
select * from customer where id = 1 and name = 'nobody'

# Every shard, rows combined.
select id, name from customer where country = 'se'
select * from customer where balance < 0
select id, note from customer where note like '%ü%'
select * from customer where email is null
select id from orders where qty between 3 and 5 and status = 'paid'

# ORDER BY and LIMIT across shards.
select * from customer order by id
select id, name from customer order by name, id
select id, name from customer order by name desc, id desc limit 7
select id, balance from customer order by balance desc, id limit 10
select id, balance from customer order by balance, id limit 5, 10
select id, born from customer order by born, id limit 20
select id, created from customer order by created desc, id limit 3
select id, email from customer order by email, id limit 12
select id, country from customer order by country desc, id
select * from orders order by amount desc, id limit 25
select id, amount from orders where status = 'shipped' order by 2 desc, 1 limit 8
select id, name as n from customer order by n, id limit 9
select id from customer order by score desc, id limit 4
select id, name from customer order by lower(name), id limit 6

# Aggregates across shards.
select count(*) from customer
select count(*) from orders where status = 'paid'
select count(email) from customer
select sum(balance) from customer
select min(balance), max(balance) from customer
~ select min(name), max(name) from customer
select min(born), max(created) from customer
select sum(amount), sum(qty), count(*) from orders
select count(*), min(id), max(id) from orders where amount > 400
select sum(balance) from customer where id < 0

# GROUP BY across shards.
~ select country, count(*) from customer group by country
~ select country, count(*), sum(balance), min(name), max(name) from customer group by country
select status, count(*), sum(amount), min(amount), max(amount), sum(qty) from orders group by status
select customer_id, count(*), sum(amount) from orders group by customer_id order by customer_id
# GROUP BY a constant: one group (which row's values it shows is not specified).
^ select * from customer group by null
select count(*), sum(balance) from customer group by null
select status, count(*) as c from orders group by status order by c desc, status
select active, count(*) from customer group by active
~ select name, count(*) from customer group by name order by name
~ select country, active, count(*) from customer group by country, active
select year(born), count(*) from customer group by year(born)
select customer_id % 5, sum(qty) from orders group by customer_id % 5
select status, count(*) from orders group by status order by 2 desc, 1 limit 2

# DISTINCT across shards.
~ select distinct country from customer
select distinct status from orders
~ select distinct name from customer
~ select distinct country, active from customer
select distinct qty from orders order by qty desc limit 3

# Reference and system queries.

select 1 + 1, 'x'

# Co-located joins: orders are sharded by customer_id with the same vindex
# as customer by id, so each shard joins its own rows.
select c.id, c.name, o.id, o.amount from customer c join orders o on c.id = o.customer_id where c.id = 12 order by o.id
select c.id, o.id from customer c join orders o on o.customer_id = c.id where o.customer_id in (3, 4, 5) order by c.id, o.id
select c.country, count(*), sum(o.amount) from customer c join orders o on c.id = o.customer_id group by c.country
select c.id, count(o.id) from customer c left join orders o on c.id = o.customer_id group by c.id order by c.id
select c.id, c.name from customer c left join orders o on c.id = o.customer_id where o.id is null order by c.id
select o.status, max(c.balance) from orders o join customer c on c.id = o.customer_id where c.active = 1 group by o.status
select c.id, o.amount from customer c join orders o on c.id = o.customer_id order by o.amount desc, o.id limit 10
~ select distinct c.country from customer c join orders o on c.id = o.customer_id where o.status = 'new'

# AVG across shards, from per-shard SUM and COUNT.
select avg(balance) from customer
select avg(qty), avg(amount) from orders
select avg(score) from customer where active = 1
select status, avg(amount), count(*) from orders group by status
~ select country, avg(balance) from customer group by country order by avg(balance) desc, country
select avg(balance) from customer where id < -100
select customer_id, avg(qty) from orders group by customer_id order by customer_id limit 15

# HAVING over merged groups.
select customer_id, count(*) from orders group by customer_id having count(*) > 5 order by customer_id
select status, sum(amount) as total from orders group by status having total > 1000 and min(qty) = 1
select customer_id, avg(amount) from orders group by customer_id having avg(amount) between 200 and 300 order by customer_id
~ select country, count(*) from customer group by country having max(balance) > 9000 or country is null
select id, name from customer having id < 0

# DISTINCT aggregates across shards.
select count(distinct country) from customer
select count(distinct email), count(*) from customer
select status, count(distinct qty), sum(distinct qty), avg(distinct qty) from orders group by status
select count(distinct qty), sum(amount) from orders where customer_id in (1, 2, 3, 4, 5, 6, 7, 8)
select count(distinct name) from customer where id > 10000
select sum(distinct balance), avg(distinct balance) from customer
select balance, count(*) from customer group by balance order by balance limit 20
select distinct amount from orders order by amount desc limit 10

# UNION and UNION ALL across shards.
select id from customer where active = 1 union all select customer_id from orders where qty = 9
~ select country from customer union select status from orders
select id, name from customer where id < 10 union select customer_id, status from orders where customer_id < 10 order by id, name
select id from customer union all select id from orders order by 1 desc limit 7
~ select name from customer where country = 'de' union select name from customer where country = 'fr'

# Subqueries: uncorrelated ones run first at the gate; correlated ones on
# co-located tables run on each shard.
select id, name from customer where id in (select customer_id from orders where amount > 490) order by id
select id from customer where id not in (select customer_id from orders) order by id
select id from customer where id in (select customer_id from orders where qty > 100) order by id
select id from customer where id not in (select customer_id from orders where qty > 100) order by id limit 5
select count(*) from customer where exists (select 1 from orders where status = 'cancelled')
select count(*) from customer where not exists (select 1 from orders where qty > 100)
select id, balance from customer where balance = (select max(balance) from customer)
select id from customer where balance > (select avg(balance) from customer) order by id limit 10
select c.id from customer c where exists (select 1 from orders o where o.customer_id = c.id and o.status = 'new') order by c.id
select c.id, (select count(*) from orders o where o.customer_id = c.id) as n from customer c order by c.id limit 20
select c.id from customer c where c.balance > 100 and not exists (select 1 from orders o where o.customer_id = c.id) order by c.id
select status, count(*) from orders where customer_id in (select id from customer where country = 'se') group by status

# Joins across shards (not on vindex columns): nested loop at the gate.
select c.id, c.name, o.amount from customer c join orders o on o.id = c.id where c.country = 'de'
select c.id, o.id, o.status from customer c left join orders o on o.id = c.id where c.active = 1
select c.id, o.qty from customer c, orders o where c.id = o.qty and c.id < 3
select c.name, o.status from customer c join orders o on c.country = o.status
select o.id, c.balance from orders o join customer c on c.id = o.qty where o.status = 'paid' and o.amount < 50
select c.id, o.amount from customer c left join orders o on o.id = c.id and o.amount > 250 where c.id between 0 and 40

# More shapes: NULL ordering, LIMIT 0, expressions, functions, CASE.
select id, email from customer order by email desc, id limit 8
select id, country from customer order by country, id desc limit 12
select id from customer order by id limit 0
select id, balance * 2 as b2, -balance from customer where id < 5 order by id
select id, upper(name), length(name), char_length(name) from customer where id between 10 and 20 order by id
select id, case when balance > 0 then 'pos' when balance < 0 then 'neg' else 'zero-or-null' end as sign from customer order by id limit 30
select date_format(created, '%Y-%m'), count(*) from customer group by date_format(created, '%Y-%m') order by 1
select month(placed) as m, sum(amount) from orders group by m order by m
~ select coalesce(country, '??') as c, count(*) from customer group by coalesce(country, '??')
select id from customer where name like 'a%' order by id
select id from customer where email like '%1@%' and balance is not null order by id
select id, score from customer where score > 500 order by score, id limit 10
select count(*), count(country), count(distinct active) from customer where born < '1970-01-01'
select status, min(placed), max(placed) from orders group by status
select qty, count(*) from orders group by qty having count(*) > 100 order by qty
select id from orders where customer_id in (-5, -4, -3) and qty in (1, 2, 3) order by id
select distinct customer_id % 3 from orders order by 1
select sum(qty * 2), avg(qty + 0.5) from orders
select id, amount from orders where amount between 100.00 and 100.99 order by id
select max(id) - min(id) from orders
select count(*) from orders where placed >= '2025-06-01' and placed < '2025-07-01'
select customer_id, count(*) as n from orders group by customer_id order by n desc, customer_id limit 5
~ select name, count(*) from customer where country = 'se' group by name order by count(*) desc, name limit 3
select id, name from customer where id in (select customer_id from orders where amount > 495) and country is not null order by id
select avg(balance), min(balance), max(balance) from customer where active = 0 and country = 'fr'

# Expressions over aggregates, evaluated on the merged groups.
select sum(amount) / count(*), max(qty) - min(qty), count(*) * 2 from orders
select status, sum(qty) * 100 / (select count(*) from orders) as pct from orders group by status
select customer_id, max(amount) - min(amount) as spread from orders group by customer_id order by spread desc, customer_id limit 5
~ select country, round(avg(balance), 1), count(*) + 0 from customer group by country

# Other vindex types: unicode_loose_md5 routes equal names (any case or
# accent) to one shard; xxhash on text.
~ select id, author from note where author = 'ann' order by id
~ select author, count(*) from note where author in ('bob', 'ZOE', 'émile') group by author
select id, code, weight from item where code = 'c17' order by id
select code, count(*), sum(weight) from item where code in ('c1', 'c2', 'c3') group by code
select count(*), count(stars), sum(stars), avg(stars) from note
select day, count(*) from note group by day order by day limit 5
select id, added from item order by added desc, id limit 6
select max(added), min(added) from item

# Reference tables: read from one shard, joined on every shard.
select * from product order by id
select kind, count(*), sum(price) from product group by kind
select i.id, p.sku from item i join product p on p.id = i.product_id where i.code = 'c5' order by i.id
select p.kind, count(*), avg(i.weight) from item i join product p on p.id = i.product_id group by p.kind
select p.id, i.id from product p left join item i on i.product_id = p.id and i.weight > 45 order by p.id, i.id

# Joins of tables on different shards, evaluated at the gate.
select c.id, c.name, n.id, n.body from customer c join note n on n.customer_id = c.id where c.id between 10 and 20 order by c.id, n.id
select c.id, n.id from customer c left join note n on n.customer_id = c.id where c.id < 5 order by c.id, n.id
select c.id, i.code from customer c join item i on i.customer_id = c.id where i.weight > 48 order by c.id, i.code, i.id
select n.author, c.country from note n join customer c on c.id = n.customer_id where n.stars = 5
select count(*) from customer c join note n on n.customer_id = c.id
select c.country, count(*), sum(i.weight) from customer c join item i on i.customer_id = c.id group by c.country order by c.country
select c.id, count(n.id) as notes from customer c left join note n on n.customer_id = c.id group by c.id order by notes desc, c.id limit 10
~ select n.stars, max(c.balance), min(c.name) from note n join customer c on c.id = n.customer_id group by n.stars
~ select distinct c.country from customer c join note n on n.customer_id = c.id where n.stars > 3
select c.id, n.id from customer c join note n on n.customer_id = c.id order by n.id desc limit 5 offset 3
select c.name, n.author from customer c join note n on n.author = c.name where c.id < 40
select c.id, o.id, n.id from customer c join orders o on o.customer_id = c.id join note n on n.customer_id = c.id where c.id in (3, 7, 11) order by c.id, o.id, n.id
select c.id, i.id, p.sku from customer c join item i on i.customer_id = c.id join product p on p.id = i.product_id where c.id < 12 order by c.id, i.id
select o.id, i.id from orders o join item i on i.id = o.id join note n on n.id = i.id where o.qty > 7 order by o.id
select n.id, c.id from note n left join customer c on c.id = n.customer_id and c.active = 1 where n.id < 30 order by n.id
select n.id from note n left join customer c on c.id = n.customer_id where c.id is null order by n.id
select c.id, n.id from note n right join customer c on c.id = n.customer_id where c.id between 100 and 105 order by c.id, n.id
select * from customer c join note n on n.customer_id = c.id where c.id = 42 order by n.id
select c.id, n.id from customer c join note n using (id) where c.id < 10 order by c.id
select c.id, n.id from customer c, note n where n.customer_id = c.id and n.stars = 0 and c.balance > 0 order by c.id, n.id
select c.id, n.id from customer c join note n on n.customer_id = c.id and n.day < c.born + interval 100 year where c.id < 50 order by c.id, n.id
select c.id, c.balance + i.weight as x from customer c join item i on i.customer_id = c.id where c.id < 8 order by c.id, i.id
select c.id, i.id from customer c join item i on i.weight > c.score / 20 where c.id in (1, 2) and i.code = 'c9' order by c.id, i.id
~ select n.author, count(distinct n.customer_id), count(distinct c.country) from note n join customer c on c.id = n.customer_id group by n.author order by n.author
~ select c.country, sum(n.stars) / count(*) from customer c join note n on n.customer_id = c.id group by c.country having count(*) > 10 order by c.country

# Derived tables and common table expressions.
select d.country, d.n from (select country, count(*) as n from customer group by country) as d where d.n > 40 order by d.country
select count(*), sum(t.total) from (select customer_id, sum(amount) as total from orders group by customer_id) as t
select t.customer_id, t.total from (select customer_id, sum(amount) as total from orders group by customer_id) as t order by t.total desc, t.customer_id limit 5
select c.id, t.n from customer c join (select customer_id, count(*) as n from orders group by customer_id) as t on t.customer_id = c.id where c.id < 20 order by c.id
select x.id from (select id from customer where balance > 9000) as x order by x.id
select max(x.b) from (select id, balance as b from customer where active = 1) x
select y.s from (select status as s, count(*) as c from orders group by status) as y where y.c > 240
% select d.k, d.c from (select kind as k, count(*) as c from product group by kind) d order by d.k
with t as (select customer_id, count(*) as n from orders group by customer_id) select n, count(*) from t group by n order by n
~ with a as (select id, country from customer where active = 1), b as (select country, count(*) as n from a group by country) select * from b order by country
with hot as (select customer_id from orders where amount > 450) select c.id, c.name from customer c where c.id in (select customer_id from hot) order by c.id
with s as (select status, sum(qty) as q from orders group by status) select s1.status, s1.q from s s1 join s s2 on s2.q = s1.q order by s1.status
select * from (select id, name from customer order by id limit 5) as first_five order by id desc

# GROUP_CONCAT across shards.
select status, group_concat(id order by id) from orders where customer_id between 0 and 20 group by status
select customer_id, group_concat(distinct status order by status separator '|') from orders where customer_id < 10 group by customer_id order by customer_id
select group_concat(sku order by id desc) from product where kind = 'toy'
~ select n.author, group_concat(c.id order by c.id) from note n join customer c on c.id = n.customer_id where n.stars = 1 group by n.author order by n.author

# Correlated subqueries on columns that are not the vindex: per row at the gate.
select c.id from customer c where exists (select 1 from note n where n.customer_id = c.id and n.stars = 5) order by c.id
select c.id from customer c where c.id < 30 and not exists (select 1 from note n where n.customer_id = c.id) order by c.id
select c.id, (select count(*) from note n where n.customer_id = c.id) as notes from customer c where c.id < 25 order by c.id
select n.id from note n where n.customer_id in (select o.customer_id from orders o where o.qty = n.stars) and n.id < 60 order by n.id
select i.id from item i where i.weight > (select avg(i2.weight) from item i2 where i2.product_id = i.product_id) and i.id < 80 order by i.id

# UNIONs whose sides cannot run shard by shard: each side on its own plan.
select count(*) from customer union all select count(*) from orders
~ select country from customer union select title from product
select sku from product where id < 5 union all select status from orders where id < 3
select id, name from customer where id < 3 union all select id, title from product where id < 3 order by id, name
select max(amount) from orders union select max(balance) from customer union all select 1
select customer_id, count(*) from orders group by customer_id having count(*) > 7 union select id, 0 from customer where id < 2 order by 1
select id from customer where id < 5 union all select id from product where id < 5 union select customer_id from orders where customer_id < 3 order by 1 desc
select 1 union all select 1.5 union all select 'x'
select price from product where id = 1 union all select qty from orders where id = 1

# Lookup vindexes: note.id (lookup_unique), item.customer_id (lookup),
# orders.id (consistent_lookup_unique) route by their lookup tables.
select * from note where id = 77
select id, author from note where id in (3, 5, 300, 9999) order by id
select count(*), sum(weight) from item where customer_id = 17
select id, code from item where customer_id in (1, 2, 3) order by id
select * from orders where id = 512
select o.id, c.name from orders o join customer c on c.id = o.customer_id where o.id = 600
select n.id, c.id from note n join customer c on c.id = n.customer_id where n.id = 12

# FOUND_ROWS(): the rows the last SELECT returned, or would have without
# its LIMIT with SQL_CALC_FOUND_ROWS.
select sql_calc_found_rows id from customer where balance > 0 order by id limit 5 ;; select found_rows()
select sql_calc_found_rows country, count(*) from customer group by country order by country limit 2 ;; select found_rows()
select sql_calc_found_rows c.id from customer c join note n on n.customer_id = c.id order by c.id, n.id limit 3 ;; select found_rows()
select sql_calc_found_rows distinct status from orders limit 1 ;; select found_rows()
select id from customer where id < 10 ;; select found_rows()
select * from customer where id = 3 ;; select found_rows() + 1
select last_insert_id(), found_rows()

# LIMIT and OFFSET bound as drivers bind them (node mysql2: DOUBLE; PHP PDO
# and Perl: strings). MariaDB makes a row count of any number or string:
# doubles rounded half to even, strings read up to their first non-digit,
# negative values wrapped to huge counts, NULL as 0.
? s:10 s:5 | select id, name from customer order by name, id limit ? offset ?
? f:10 f:5 | select id, name from customer order by name, id limit ? offset ?
? f:2.5 f:1.5 | select id from customer order by id limit ? offset ?
? f:3.5 f:-0.4 | select id from customer order by id limit ? offset ?
? s:3.9 s:abc | select id from customer order by id limit ? offset ?
? s: s:2 | select id from customer order by id limit ? offset ?
? s:-1 i:290 | select id from customer order by id limit ? offset ?
? i:-1 i:-1 | select id from customer order by id limit ? offset ?
? f:-1.5 s:1e2 | select id from customer order by id limit ? offset ?
? n n | select id from customer order by id limit ? offset ?
? s:18446744073709551616 s: | select id from orders where qty = 9 order by id limit ? offset ?
? u:4 f:1e30 | select id from orders order by id limit ? offset ?
? f:3 | select * from orders where customer_id = 42 order by id limit ?
? s:2 | select status, count(*) from orders group by status order by 2 desc, 1 limit ?
? s:5 s:2 | select c.id, o.amount from customer c join orders o on c.id = o.customer_id order by o.amount desc, o.id limit ?, ?
? s:3 | select d.id from (select id from customer order by id limit ?) as d order by d.id
? f:4 | select id from customer where active = 1 union select customer_id from orders where qty = 9 order by 1 limit ?

# VERSION() is @@version (the gate's own), in text and prepared statements,
# typed and named as MariaDB types and names them.
select version() = @@version, version() = @@global.version
? i:1 | select version() = @@version from dual where 1 = ?
^ select version(), VERSION(), @@version, @@version_comment, version() as v
^ ? i:1 | select version(), @@version, @@version_comment from dual where 1 = ?

# DESCRIBE, SHOW COLUMNS and SHOW INDEX (Perl's column_info, ORMs'
# migrations): one shard of the table's keyspace answers, without the
# keyspace qualifier. Index cardinalities differ by design (a shard holds a
# quarter of the rows).
desc customer
describe orders
describe ks.customer email
describe customer 'b%'
explain ks.note
desc nosuchtable
desc nosuchdb.customer
describe information_schema.character_sets
show columns from customer
show full columns from orders from ks like 'c%'
show columns from ks.item where Field like '%d'
show columns from nosuchtable
^ show index from orders
^ show keys from ks.customer

# EXPLAIN of a statement routed to one shard is that shard's EXPLAIN; of a
# scatter, every shard's rows (so only the columns compare); a plan the
# gate evaluates itself is refused.
explain select * from customer where id = 17
explain select name from customer where id = 17 and active = 1
^ explain select * from orders where customer_id = 42 order by id
^ explain select * from customer where country = 'se'
^ explain select status, count(*) from orders group by status
^ explain format=json select * from customer where id = 17
^ explain delete from customer where id = 17
# Formats MariaDB does not have fail on the shard as on one server.
explain analyze select * from customer where id = 17
explain format=tree select * from customer where id = 17
% explain select c.id, n.id from customer c join note n on n.customer_id = c.id where c.id < 5
% explain select id from customer where id in (select customer_id from orders where amount > 490)
