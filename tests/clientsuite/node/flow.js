'use strict';
// The application flow through node mysql2's promise API with its default
// options. Mode "execute" runs every statement with parameters through
// execute() (server-side prepared statements, cached per connection);
// mode "query" through query() (parameters escaped into the text).
// Transactions are mysql2's beginTransaction/commit/rollback.

const mysql = require('mysql2/promise');

const mode = process.argv[2];
if (mode !== 'execute' && mode !== 'query') {
  console.error('usage: node flow.js execute|query');
  process.exit(2);
}
const cfg = {
  host: process.env.SUITE_HOST,
  port: Number(process.env.SUITE_PORT),
  user: process.env.SUITE_USER,
  database: process.env.SUITE_DB,
};
const LOCK = process.env.SUITE_LOCK;

const COLUMNS = 'id ti tiu si siu mi miu i iu bi biu dc fl db bt dt dtm ts tm yr ch vc bn vb tx bl en st js'.split(' ');
// Row 11 of alltypes; row 12 binds the id and NULL for the rest. JavaScript
// numbers cannot hold the BIGINTs: they go as strings, as applications
// send them.
const ROW11 = [
  11, -5, 200, -300, 60000, -70000, 16000000, -123456, 3000000000,
  '-9000000000000000000', '18446744073709551000',
  '12345.678901', 0.5, 6.02214076e23, 5,
  '2024-02-29', '2024-02-29 13:14:15.123456', '2024-03-01 01:02:03.456', '-01:02:03', 2024,
  'ch', 'vc ü €', Buffer.from([1, 2, 3, 4]), Buffer.from([0, 0xff]), 'text', Buffer.from([0, 1, 2, 0xff]),
  'medium', 'green,blue', '{"k": "v", "n": 1}',
];
const ROW12 = [12].concat(new Array(COLUMNS.length - 1).fill(null));

function out(...parts) {
  process.stdout.write(parts.join(' ') + '\n');
}

function check(name, value) {
  out(`CHECK ${name}: ${value}`);
}

function val(v) {
  if (v === null || v === undefined) return 'NULL';
  if (Buffer.isBuffer(v)) return 'Buffer:' + v.toString('hex');
  if (v instanceof Date) return 'Date:' + (isNaN(v) ? 'Invalid' : v.toISOString());
  if (typeof v === 'string') return 'string:' + JSON.stringify(v);
  if (typeof v === 'object') return (v.constructor ? v.constructor.name : 'object') + ':' + JSON.stringify(v);
  return typeof v + ':' + String(v);
}

function row(r) {
  const vals = Array.isArray(r) ? r : Object.values(r);
  return '[' + vals.map(val).join(', ') + ']';
}

function errText(e) {
  return `${e.code || e.name} ${e.errno} ${e.sqlState} ${e.sqlMessage || e.message}`;
}

function describe(fields) {
  for (const f of fields || []) {
    out('  column', f.name, `org=${f.schema}.${f.orgTable}.${f.orgName}`, `table=${f.table}`,
      `type=${f.columnType}`, `length=${f.columnLength}`, `decimals=${f.decimals}`, `flags=${f.flags}`,
      `charset=${f.characterSet}`);
  }
}

function header(h) {
  out('affected', h.affectedRows, 'insert_id', h.insertId, 'warnings', h.warningStatus,
    'changed', h.changedRows, 'info', JSON.stringify(h.info));
}

async function step(name, fn) {
  out('==', name);
  try {
    await fn();
  } catch (e) {
    out('ERROR', errText(e));
  }
}

async function main() {
  let conn, other;
  try {
    conn = await mysql.createConnection(cfg);
    other = await mysql.createConnection(cfg);
  } catch (e) {
    out('ERROR connect', errText(e));
    process.exit(1);
  }
  // run is how this mode sends a statement with parameters.
  const run = (c, sql, params) => (mode === 'execute' ? c.execute(sql, params) : c.query(sql, params));
  const count = async (id) => {
    const [rows] = await run(other, 'SELECT COUNT(*) AS n FROM acct WHERE id = ?', [id]);
    return Number(rows[0].n) > 0 ? 'present' : 'absent';
  };
  const warnings = async (c) => {
    const [rows] = await c.query('SHOW WARNINGS');
    for (const w of rows) out('  warning', row(w));
    return rows.map((w) => w.Code).join(' ');
  };

  await step('connect', async () => {
    const [rows] = await conn.query('SELECT @@autocommit, DATABASE()');
    out('session', row(rows[0]));
  });
  await step('insert', async () => {
    for (const q of [
      "INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')",
      'UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)',
      "UPDATE acct SET note = 'a' WHERE id = 101",
      'DELETE FROM acct WHERE id = 103',
    ]) {
      const [h] = await conn.query(q);
      header(h);
    }
  });
  for (const [name, id, owner, end] of [['rollback', 201, 'rolled back', 'rollback'], ['commit', 202, 'committed', 'commit']]) {
    await step(name, async () => {
      await conn.beginTransaction();
      const [h] = await run(conn, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)', [id, owner, id - 199]);
      header(h);
      check(`${name} before`, await count(id));
      await conn[end]();
      check(name, await count(id));
    });
  }
  await step('prepared insert', async () => {
    const q = `INSERT INTO alltypes (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
    for (const r of [ROW11, ROW12]) {
      const [h] = await run(conn, q, r);
      header(h);
    }
  });
  await step('prepared select', async () => {
    let n = 0;
    for (const id of [1, 2, 3, 11, 12]) {
      const [rows, fields] = await run(conn, 'SELECT * FROM alltypes WHERE id = ?', [id]);
      if (id === 1) describe(fields);
      for (const r of rows) {
        out('row', row(r));
        n++;
      }
    }
    check('prepared rows', n);
  });
  await step('pagination', async () => {
    for (const off of [2, 6, 10]) {
      const [rows] = await run(conn, 'SELECT id, owner, balance FROM acct ORDER BY id LIMIT ? OFFSET ?', [4, off]);
      for (const r of rows) out('row', row(r));
      check('page', rows.map((r) => r.id).join(','));
    }
  });
  await step('warnings', async () => {
    const [rows] = await conn.query("SELECT CAST('abc' AS SIGNED) AS v");
    out('row', row(rows[0]));
    check('warning', await warnings(conn));
    const [h] = await conn.query("INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)");
    header(h);
    check('ignore warning', await warnings(conn));
  });
  await step('lock', async () => {
    const get = async (c, q) => {
      const [rows] = await run(c, q, [LOCK]);
      return Object.values(rows[0])[0];
    };
    check('lock held', await get(conn, 'SELECT GET_LOCK(?, 0)'));
    check('lock refused', await get(other, 'SELECT GET_LOCK(?, 0)'));
    check('lock released', await get(conn, 'SELECT RELEASE_LOCK(?)'));
    check('lock taken', await get(other, 'SELECT GET_LOCK(?, 0)'));
    out('other released', await get(other, 'SELECT RELEASE_LOCK(?)'));
  });
  await step('duplicate', async () => {
    try {
      await run(conn, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)', [101, 'dup', 0]);
      out('no error');
    } catch (e) {
      out('error', errText(e));
      check('duplicate code', e.errno);
      check('duplicate sqlstate', e.sqlState);
    }
  });
  await step('metadata', async () => {
    for (const q of ['SELECT * FROM alltypes ORDER BY id',
      'SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct']) {
      const [rows, fields] = await conn.query(q);
      describe(fields);
      for (const r of rows) out('row', row(r));
    }
  });
  await conn.end();
  await other.end();
  out('== end');
}

main().catch((e) => {
  out('ERROR', errText(e));
  process.exit(1);
});
