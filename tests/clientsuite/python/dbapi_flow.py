"""The application flow through a DB-API driver: PyMySQL (pure Python) or
mysqlclient (MySQLdb, over libmariadb), chosen by the first argument.

Both are used as DB-API applications use them: connect with the defaults
(autocommit off, as PEP 249 says), implicit transactions ended by
commit() and rollback(), %s placeholders (both drivers interpolate them
on the client: neither has server-side prepared statements).
"""

import sys

from suite import (AGGREGATE, ALLTYPES_COLUMNS, CAST_WARNING, DB, DELETE_ROW, HOST, INSERT_IGNORE, INSERT_ROWS,
                   LOCK, PAGE_OFFSETS, PAGE_SIZE, PORT, ROW11, ROW12, UPDATE_NOOP, UPDATE_ROWS, USER, check, err,
                   fail, out, presence, row, step)

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
if MODE == "pymysql":
    import pymysql as driver
elif MODE == "mysqlclient":
    import MySQLdb as driver
else:
    fail("usage: dbapi_flow.py pymysql|mysqlclient")


def connect():
    return driver.connect(host=HOST, port=PORT, user=USER, database=DB)


def describe(cur):
    """Column metadata the driver exposes."""
    for d in cur.description:
        out("  column", repr(tuple(d)))
    if MODE == "pymysql":
        for f in cur._result.fields:
            out("  field", f.name, "org=%s.%s.%s" % (f.db, f.org_table, f.org_name), "table=%s" % f.table_name,
                "type=%d" % f.type_code, "length=%d" % f.length, "decimals=%d" % f.scale, "flags=%d" % f.flags,
                "charset=%d" % f.charsetnr)
    else:
        out("  flags", repr(tuple(cur.description_flags)))


def warnings(conn, cur):
    """The warning count the driver reports, then SHOW WARNINGS."""
    if MODE == "pymysql":
        out("  warning_count", cur._result.warning_count)
    else:
        out("  warning_count", conn.warning_count())
    cur.execute("SHOW WARNINGS")
    rows = cur.fetchall()
    for r in rows:
        out("  warning", row(r))
    return [str(r[1]) for r in rows]


def main():
    try:
        conn = connect()
        other = connect()
    except Exception as e:  # noqa: BLE001
        out("ERROR connect", err(e))
        sys.exit(1)
    cur = conn.cursor()
    ocur = other.cursor()

    def count(id_):
        """Whether the row is there, seen from the other connection (in a
        new transaction, so that it sees what has been committed)."""
        other.rollback()
        ocur.execute("SELECT COUNT(*) FROM acct WHERE id = %s", (id_,))
        n = ocur.fetchone()[0]
        other.rollback()
        return presence(n)

    def s_connect():
        out("driver autocommit", conn.get_autocommit())
        cur.execute("SELECT @@autocommit, DATABASE()")
        out("session", row(cur.fetchone()))
        conn.rollback()

    def s_insert():
        for q in (INSERT_ROWS, UPDATE_ROWS, UPDATE_NOOP, DELETE_ROW):
            n = cur.execute(q)
            out("rowcount", n, cur.rowcount, "lastrowid", cur.lastrowid)
        conn.commit()

    def s_rollback():
        cur.execute("INSERT INTO acct (id, owner, balance) VALUES (%s, %s, %s)", (201, "rolled back", 1))
        out("rowcount", cur.rowcount)
        check("rollback before", count(201))
        conn.rollback()
        check("rollback", count(201))

    def s_commit():
        cur.execute("INSERT INTO acct (id, owner, balance) VALUES (%s, %s, %s)", (202, "committed", 2))
        out("rowcount", cur.rowcount)
        check("commit before", count(202))
        conn.commit()
        check("commit", count(202))

    def s_insert_types():
        q = "INSERT INTO alltypes (%s) VALUES (%s)" % (", ".join(ALLTYPES_COLUMNS), ", ".join(["%s"] * len(ALLTYPES_COLUMNS)))
        for r in (ROW11, ROW12):
            cur.execute(q, r)
            out("rowcount", cur.rowcount)
        conn.commit()

    def s_select_types():
        n = 0
        for id_ in (1, 2, 3, 11, 12):
            cur.execute("SELECT * FROM alltypes WHERE id = %s", (id_,))
            if id_ == 1:
                describe(cur)
            for r in cur.fetchall():
                out("row", row(r))
                n += 1
        check("prepared rows", n)
        conn.rollback()

    def s_pages():
        for off in PAGE_OFFSETS:
            cur.execute("SELECT id, owner, balance FROM acct ORDER BY id LIMIT %s OFFSET %s", (PAGE_SIZE, off))
            rows = cur.fetchall()
            for r in rows:
                out("row", row(r))
            check("page", ",".join(str(r[0]) for r in rows))
        conn.rollback()

    def s_warnings():
        cur.execute(CAST_WARNING)
        out("row", row(cur.fetchone()))
        check("warning", " ".join(warnings(conn, cur)))
        cur.execute(INSERT_IGNORE)
        out("rowcount", cur.rowcount)
        check("ignore warning", " ".join(warnings(conn, cur)))
        conn.commit()

    def s_lock():
        def get(c, q):
            c.execute(q, (LOCK,))
            return c.fetchone()[0]
        check("lock held", get(cur, "SELECT GET_LOCK(%s, 0)"))
        check("lock refused", get(ocur, "SELECT GET_LOCK(%s, 0)"))
        check("lock released", get(cur, "SELECT RELEASE_LOCK(%s)"))
        check("lock taken", get(ocur, "SELECT GET_LOCK(%s, 0)"))
        out("other released", get(ocur, "SELECT RELEASE_LOCK(%s)"))
        conn.rollback()
        other.rollback()

    def s_duplicate():
        try:
            cur.execute("INSERT INTO acct (id, owner, balance) VALUES (%s, %s, %s)", (101, "dup", 0))
            out("no error")
        except driver.Error as e:
            out("error", err(e))
            check("duplicate code", e.args[0])
            check("duplicate class", type(e).__name__)
        conn.rollback()

    def s_metadata():
        cur.execute("SELECT * FROM alltypes ORDER BY id")
        describe(cur)
        for r in cur.fetchall():
            out("row", row(r))
        cur.execute(AGGREGATE)
        describe(cur)
        out("row", row(cur.fetchone()))
        conn.rollback()

    step("connect", s_connect)
    step("insert", s_insert)
    step("rollback", s_rollback)
    step("commit", s_commit)
    step("prepared insert", s_insert_types)
    step("prepared select", s_select_types)
    step("pagination", s_pages)
    step("warnings", s_warnings)
    step("lock", s_lock)
    step("duplicate", s_duplicate)
    step("metadata", s_metadata)
    conn.close()
    other.close()
    out("== end")


main()
