-- The application flow through the mariadb command-line client, as a
-- person or a shell script would type it: two sessions (main and other)
-- kept open side by side, statements in batch mode with --show-warnings.
--
-- Directives (lines "-- @..."), read by the Go test (cliFlow), say what
-- runs where; the statements after one run until the next:
--   -- @step NAME        a new step: "== NAME" in the transcript; main session
--   -- @main             statements run in the main session
--   -- @other            statements run in the other session
--   -- @warnings NAME    main session; the codes of the warnings the client
--                        prints become "CHECK NAME: codes"
--   -- @error NAME       main session; the error the client prints becomes
--                        "CHECK NAME code: N" and "CHECK NAME sqlstate: S"
--   -- @metadata         a one-shot client with --column-type-info
-- Other CHECK lines are SELECTed by the statements themselves.
-- The lock name is what SUITE_LOCK is for this client: suite_lock_cli.

-- @step connect
SELECT @@autocommit, DATABASE();

-- @step insert
INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c');
SELECT ROW_COUNT();
UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102);
SELECT ROW_COUNT();
UPDATE acct SET note = 'a' WHERE id = 101;
SELECT ROW_COUNT();
DELETE FROM acct WHERE id = 103;
SELECT ROW_COUNT();

-- @step rollback
BEGIN;
INSERT INTO acct (id, owner, balance) VALUES (201, 'rolled back', 1);
-- @other
SELECT CONCAT('CHECK rollback before: ', IF(COUNT(*) > 0, 'present', 'absent')) AS c FROM acct WHERE id = 201;
-- @main
ROLLBACK;
-- @other
SELECT CONCAT('CHECK rollback: ', IF(COUNT(*) > 0, 'present', 'absent')) AS c FROM acct WHERE id = 201;

-- @step commit
START TRANSACTION;
INSERT INTO acct (id, owner, balance) VALUES (202, 'committed', 2);
-- @other
SELECT CONCAT('CHECK commit before: ', IF(COUNT(*) > 0, 'present', 'absent')) AS c FROM acct WHERE id = 202;
-- @main
COMMIT;
-- @other
SELECT CONCAT('CHECK commit: ', IF(COUNT(*) > 0, 'present', 'absent')) AS c FROM acct WHERE id = 202;

-- @step prepared insert
-- The client has no prepared statements: the same rows as literals.
INSERT INTO alltypes (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dc, fl, db, bt, dt, dtm, ts, tm, yr, ch, vc, bn, vb, tx, bl, en, st, js) VALUES
  (11, -5, 200, -300, 60000, -70000, 16000000, -123456, 3000000000, -9000000000000000000, 18446744073709551000,
   '12345.678901', 0.5, 6.02214076e23, 5, '2024-02-29', '2024-02-29 13:14:15.123456', '2024-03-01 01:02:03.456',
   '-01:02:03', 2024, 'ch', 'vc ü €', x'01020304', x'00ff', 'text', x'000102ff', 'medium', 'green,blue', '{"k": "v", "n": 1}');
INSERT INTO alltypes (id) VALUES (12);
-- @step prepared select
SELECT * FROM alltypes WHERE id = 1;
SELECT * FROM alltypes WHERE id = 2;
SELECT * FROM alltypes WHERE id = 3;
SELECT * FROM alltypes WHERE id = 11;
SELECT * FROM alltypes WHERE id = 12;
SELECT CONCAT('CHECK prepared rows: ', COUNT(*)) AS c FROM alltypes WHERE id IN (1, 2, 3, 11, 12);

-- @step pagination
SELECT id, owner, balance FROM acct ORDER BY id LIMIT 4 OFFSET 2;
SELECT CONCAT('CHECK page: ', GROUP_CONCAT(id ORDER BY id)) AS c FROM (SELECT id FROM acct ORDER BY id LIMIT 4 OFFSET 2) AS p;
SELECT id, owner, balance FROM acct ORDER BY id LIMIT 4 OFFSET 6;
SELECT CONCAT('CHECK page: ', GROUP_CONCAT(id ORDER BY id)) AS c FROM (SELECT id FROM acct ORDER BY id LIMIT 4 OFFSET 6) AS p;
SELECT id, owner, balance FROM acct ORDER BY id LIMIT 4 OFFSET 10;
SELECT CONCAT('CHECK page: ', GROUP_CONCAT(id ORDER BY id)) AS c FROM (SELECT id FROM acct ORDER BY id LIMIT 4 OFFSET 10) AS p;

-- @step warnings
-- @warnings warning
SELECT CAST('abc' AS SIGNED) AS v;
-- @main
SHOW WARNINGS;
-- @warnings ignore warning
INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0);
-- @main
SHOW WARNINGS;

-- @step lock
SELECT CONCAT('CHECK lock held: ', GET_LOCK('suite_lock_cli', 0)) AS c;
-- @other
SELECT CONCAT('CHECK lock refused: ', GET_LOCK('suite_lock_cli', 0)) AS c;
-- @main
SELECT CONCAT('CHECK lock released: ', RELEASE_LOCK('suite_lock_cli')) AS c;
-- @other
SELECT CONCAT('CHECK lock taken: ', GET_LOCK('suite_lock_cli', 0)) AS c;
SELECT RELEASE_LOCK('suite_lock_cli');

-- @step duplicate
-- @error duplicate
INSERT INTO acct (id, owner, balance) VALUES (101, 'dup', 0);

-- @step metadata
-- @metadata
SELECT * FROM alltypes ORDER BY id;
SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct;
