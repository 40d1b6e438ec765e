# Queries answered by one plain MariaDB and by the 4-shard cluster; the
# answers must match exactly (in order when the query has ORDER BY, which
# then always ends in a unique key so that ties cannot reorder rows).
#
# A line starting with "~" groups text under a case- and accent-insensitive
# collation: which spelling represents a group ('Ann' or 'ann') is not
# specified by MySQL, so text is compared case- and accent-folded there.

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
