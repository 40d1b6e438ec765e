# Write scenarios, separated by blank lines. Each runs on one connection of
# the reference MariaDB and one of the cluster, from empty tables; then the
# tables' full contents must be equal. A statement starting with "!" must
# fail on both (its error is not compared); one starting with "%" is one
# the gate refuses by design (error 1235 or 1364) and is not run on the
# reference. A statement starting with "=" has its answer (rows, columns or
# error; affected rows without RETURNING) compared too, in order; "=*" in
# any order. After "=" or "=*",
# "? ARGS | stmt" runs it prepared with ARGS (typed as in differential.sql).

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4), (5, 'e', 5), (6, 'f', 6)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
update w set n = n + 10 where id = 1

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
update w set n = n * 2 where n > 1

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
update w set name = concat(name, '!') where id in (2, 3, 99)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
delete from w where id = 3

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
delete from w where n >= 2

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
delete from w where id in (1, 4)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
insert into w (id, name, n) values (2, 'x', 20), (3, 'c', 3) on duplicate key update n = n + values(n)

insert into w (id, name, n) values (1, 'a', 1)
replace into w (id, name, n) values (1, 'replaced', 100), (7, 'g', 7)

insert into w (id, name, n) values (1, 'a', 1)
insert ignore into w (id, name, n) values (1, 'dup', 9), (8, 'h', 8)

insert into w (id, name, n) values (1, 'a', 1)
!insert into w (id, name, n) values (9, 'i', 9), (1, 'dup', 1)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
begin
update w set n = 100 where id = 1
update w set n = 200 where id = 2
commit

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
begin
update w set n = 100 where id = 1
delete from w where id = 2
insert into w (id, name, n) values (10, 'j', 10)
rollback

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
begin
insert into w (id, name, n) values (11, 'k', 11), (12, 'l', 12)
update w set n = n + 1
commit

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
set autocommit = 0
update w set n = 50 where id = 1
rollback
update w set n = 60 where id = 2
commit
set autocommit = 1

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 1, 6), (3, 2, 7), (4, 3, 8)
delete from wo where w_id in (select id from w where name = 'a')

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 2, 6), (3, 3, 7)
update w set n = 0 where id in (select w_id from wo where qty > 5)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
update w set n = 9 where id = 2 and n = 2
update w set n = 8 where id = 3 and n = 99

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
delete from w where id = 2 limit 1
update w set name = 'z' where id = 3 order by n limit 1

insert into w (id, name, n) values (-1, 'neg', -1), (0, 'zero', 0), (9223372036854775807, 'max', 1)
update w set n = n - 1 where id < 1

insert into w (id, name, n) values (1, 'ü€', 1), (2, 'Ünïcødé 😀', 2), (3, '', 3), (4, null, null)
update w set name = upper(name) where id in (1, 2)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
%update w set id = 5 where id = 1
%insert into w (name, n) values ('no id', 1)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 1), (2, 2, 2), (3, 3, 3)
delete from wo where w_id = 2
delete from w where id not in (select w_id from wo)

insert into w (id, name, n) values (1, 'a', 1)
insert into w (id, name, n) values (2, 'b', 2)
insert into w (id, name, n) values (3, 'c', 3)
delete from w
insert into w (id, name, n) values (4, 'd', 4)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4), (5, 'e', 5)
begin
delete from w where n < 3
insert into w (id, name, n) values (1, 'again', 10)
commit

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
update w set n = null where id = 1
update w set name = null where n is null

insert into wo (id, w_id, qty) values (1, 10, 1), (2, 20, 2), (3, 30, 3), (4, 40, 4)
update wo set qty = qty * 10 where w_id in (10, 30)
delete from wo where qty = 2

insert into wo (id, w_id, qty) values (1, 10, 1), (2, 10, 2), (3, 10, 3)
update wo set qty = 0 where w_id = 10 and id = 2

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
begin
update w set n = 10 where id = 1
!insert into w (id, name, n) values (2, 'dup', 0)
update w set n = 30 where id = 3
commit

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
insert into w (id, name, n) values (5, 'e', 5), (6, 'f', 6) on duplicate key update name = 'never'
insert into w (id, name, n) values (1, 'a', 1), (6, 'f', 6) on duplicate key update name = concat(name, '+')

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
insert into wo (id, w_id, qty) select id, id, n from w where n > 2

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into w (id, name, n) select id + 100, concat(name, '2'), n * 10 from w

insert into w values (50, 'z', 5), (51, 'y', 6)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 1, 7), (3, 2, 9), (4, 3, 1)
update w join wo on wo.w_id = w.id set w.n = w.n + wo.qty where wo.qty > 5

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 2, 7), (3, 2, 9), (4, 3, 1)
delete wo from w join wo on wo.w_id = w.id where w.name = 'b'

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 3, 7)
delete from w where not exists (select 1 from wo where wo.w_id = w.id)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 1, 7), (3, 3, 1)
update w set n = (select count(*) from wo where wo.w_id = w.id)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2)
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 1, 7), (3, 3, 1)
insert into w (id, name, n) select w_id, 'dup', qty from wo on duplicate key update n = n + values(n)

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)
insert into wo (id, w_id, qty) select id + 20, id, n from w order by n desc limit 2

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
insert into wo (id, w_id, qty) values (1, 1, 3), (2, 2, 1)
insert into wo (id, w_id, qty) select w.id + 10, w.id, wo.qty from w join wo on wo.id = w.n

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
begin
insert into wo (id, w_id, qty) select id, id, n from w
delete from w where id = 2
rollback

insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)
!insert into wo (id, w_id) select id, id, n from w
%delete from w where n > 1 limit 1
%update w join wo on wo.qty = w.id set w.n = 0

# Owners of lookup vindexes: wo.id has a lookup_unique, wl.tag a
# consistent_lookup_unique and wl.grp a consistent_lookup (NULLs not kept).
insert into wo (id, w_id, qty) values (1, 1, 5), (2, 2, 6), (3, 3, 7)
update wo set qty = 0 where id = 2
delete from wo where id = 3

insert into wo (id, w_id, qty) values (1, 1, 5), (2, 2, 6)
update wo set id = 7 where w_id = 1
delete from wo where qty = 6
insert into wo (id, w_id, qty) values (2, 5, 1)

insert into wl (id, tag, grp) values (1, 'a', 1), (2, 'b', 1), (3, 'c', NULL)
update wl set tag = 'z' where id = 1
update wl set grp = 2 where id in (1, 3)
delete from wl where id = 2
insert into wl (id, tag, grp) values (2, 'b', 3)

insert into wl (id, tag, grp) values (1, 'a', 1)
!insert into wl (id, tag, grp) values (2, 'a', 1)
insert into wl (id, tag, grp) values (2, 'b', 1)
begin
delete from wl where id = 1
rollback
insert into wl (id, tag, grp) values (3, 'c', 4)

insert into wl (id, tag, grp) values (1, 'a', 1), (2, 'b', 2)
begin
delete from wl where id = 1
commit
insert into wl (id, tag, grp) values (3, 'a', 5)

insert into wo (id, w_id, qty) values (1, 1, 5)
!insert into wo (id, w_id, qty) values (1, 2, 5)
%insert into wo (id, w_id, qty) values (1, 2, 5) on duplicate key update qty = 1
%update wo set id = id + 1

# Sequences number a sharded table's rows as AUTO_INCREMENT numbers the
# reference's (ws.id comes from sequence lk.ws_seq).
insert into ws (name) values ('a'), ('b'), ('c')
insert into ws (id, name) values (null, 'd')
insert into ws (name) values ('e')

# RETURNING with sequences: the gate's ids, in the VALUES list's order.
= insert into ws (name) values ('a'), ('b'), ('c'), ('d'), ('e') returning id, name
= insert into ws (id, name) values (null, 'f'), (0, 'g') returning id, name
= ? s:h s:i | insert into ws (name) values (?), (?) returning id
=* delete from ws where name in ('a', 'h') returning id, name

insert into ws (name) values ('f')
begin
insert into ws (name) values ('g'), ('h')
commit
insert into ws (id, name) values (1000, 'explicit')

# ON DUPLICATE KEY UPDATE of the primary vindex column to VALUES() of
# itself (GORM's upserts of has-many children send it), VALUE() (MariaDB's
# spelling) or itself: the updated row stays on the shard its new value
# chose. wc is sharded by w_id; w_id 1 and 2 map to one shard (-40), so
# the row with id 1 is found there and moves from w_id 1 to 2 as on one
# server.
insert into wc (id, w_id, note) values (1, 1, 'a'), (2, 4, 'b')
insert into wc (id, w_id, note) values (1, 2, 'x'), (2, 4, 'y'), (3, 5, 'z') on duplicate key update w_id = values(w_id), note = values(note)
insert into wc (id, w_id, note) values (1, 2, 'x2') on duplicate key update w_id = value(w_id), note = concat(note, '!')
insert into wc (id, w_id, note) values (2, 4, 'q'), (4, 6, 'r') on duplicate key update wc.w_id = wc.w_id, note = 'kept'
insert into w (id, name, n) values (1, 'a', 1), (2, 'b', 2) on duplicate key update id = values(id), n = n + 1
insert into w (id, name, n) values (1, 'a', 1) on duplicate key update id = values(id), n = n + 1
update wc set w_id = w_id, note = 'u' where id = 3
%insert into wc (id, w_id, note) values (2, 4, 'q') on duplicate key update w_id = 7
%insert into wc (id, w_id, note) values (2, 4, 'q') on duplicate key update w_id = values(w_id) + 1
%insert into wl (id, tag, grp) values (1, 'a', 1) on duplicate key update id = values(id)

# INSERT, REPLACE and DELETE ... RETURNING (MariaDB 10.5+; GORM creates
# with it): each shard's statement returns its rows; an INSERT's come back
# in the order of its VALUES list (w_id 1 and 2 map to shard -40, 3 and 5
# to 40-80, 4 and 6 to c0-).
= insert into w (id, name, n) values (3, 'c', 3), (1, 'a', 1), (4, 'd', 4), (2, 'b', 2), (5, 'e', 5) returning id, name, n * 2 as n2
= insert into w (id, name, n) values (6, 'f', 6) returning *
= replace into w (id, name, n) values (1, 'A', 10), (7, 'g', 7), (3, 'C', 30), (12, 'L', 12) returning id, name
= insert into w (id, name, n) values (2, 'x', 0), (8, 'h', 8), (4, 'y', 0) on duplicate key update n = n + 100 returning id, n
= insert ignore into w (id, name, n) values (4, 'dup', 1), (12, 'l', 12) returning id, name
= ? i:10 s:j | insert into w (id, name, n) values (?, ?, 1), (11, 'k', 1) returning id, name, n
=* delete from w where n > 7 returning id, name
= delete from w where id = 3 returning id, concat(name, '!') as bang
=* delete from w where id < 0 returning id
= insert into wc (id, w_id, note) select id + 100, id, name from w order by id returning id, w_id, note
= insert into wc (id, w_id, note) select id, id, name from w where id < 0 returning id, note
= insert into wc (id, w_id, note) values (101, 2, 'z') on duplicate key update w_id = values(w_id), note = 'moved' returning id, w_id, note
%insert ignore into w (id, name, n) values (1, 'a', 1), (4, 'd', 4) returning id
%insert into w (id, name, n) values (20, 't', 1) returning last_insert_id()
!insert into w (id, name, n) values (21, 'u', 1) returning nosuchcolumn

# RETURNING with tables that own lookup vindexes: the lookup rows are kept.
= insert into wo (id, w_id, qty) values (10, 1, 1), (11, 4, 2), (12, 2, 3), (13, 5, 4) returning id, w_id, qty
=* delete from wo where qty > 2 returning id, w_id
= insert into wl (id, tag, grp) values (1, 'a', 1), (2, 'b', 2), (3, 'c', 1) returning id, tag
= delete from wl where tag = 'a' returning id, tag, grp

# A reference table's writes run on every shard and answer as one server
# (affected rows and RETURNING rows once, not once per shard).
= insert into product (id, sku, title, price, kind) values (100, 'x', 't', 1.5, 'toy'), (101, 'y', 't', 2, 'toy')
= update product set price = price + 1 where id >= 100
= insert into product (id, sku, title, price, kind) values (102, 'z', 't', 3, 'food') returning id, sku, price
= delete from product where id >= 101 returning id
= delete from product where id >= 100
= update w set n = n + 1 where id = 1
