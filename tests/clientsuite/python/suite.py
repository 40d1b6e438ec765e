"""Shared parts of the Python client flows: where to connect, the rows
every flow writes, and the transcript's rendering of values.

The transcript is compared line by line between a plain MariaDB and the
gate, so it holds only what both must answer alike: no connection ids,
server versions or timings.
"""

import datetime
import decimal
import os
import sys

HOST = os.environ["SUITE_HOST"]
PORT = int(os.environ["SUITE_PORT"])
USER = os.environ["SUITE_USER"]
DB = os.environ["SUITE_DB"]
LOCK = os.environ["SUITE_LOCK"]

# Column order of alltypes, as in testdata/schema.sql.
ALLTYPES_COLUMNS = [
    "id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu",
    "dc", "fl", "db", "bt", "dt", "dtm", "ts", "tm", "yr",
    "ch", "vc", "bn", "vb", "tx", "bl", "en", "st", "js",
]

# Row 11 of alltypes, bound by every flow's prepared INSERT (row 12 binds
# the id and NULL for every other column). BIGINT UNSIGNED is above 2^63.
ROW11 = [
    11, -5, 200, -300, 60000, -70000, 16000000, -123456, 3000000000,
    -9000000000000000000, 18446744073709551000,
    decimal.Decimal("12345.678901"), 0.5, 6.02214076e23, 5,
    datetime.date(2024, 2, 29), datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
    datetime.datetime(2024, 3, 1, 1, 2, 3, 456000), "-01:02:03", 2024,
    "ch", "vc \u00fc \u20ac", b"\x01\x02\x03\x04", b"\x00\xff", "text", b"\x00\x01\x02\xff",
    "medium", "green,blue", '{"k": "v", "n": 1}',
]
ROW12 = [12] + [None] * (len(ALLTYPES_COLUMNS) - 1)

INSERT_ROWS = (
    "INSERT INTO acct (id, owner, balance, note) VALUES "
    "(101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')"
)
UPDATE_ROWS = "UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)"
UPDATE_NOOP = "UPDATE acct SET note = 'a' WHERE id = 101"
DELETE_ROW = "DELETE FROM acct WHERE id = 103"
CAST_WARNING = "SELECT CAST('abc' AS SIGNED) AS v"
INSERT_IGNORE = "INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)"
AGGREGATE = "SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct"
PAGE_OFFSETS = (2, 6, 10)
PAGE_SIZE = 4


def out(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def check(name, value):
    """A fact the Go test requires, whatever the transcripts' diff."""
    out("CHECK %s: %s" % (name, value))


def val(v):
    """A value as the driver typed it: type name and value."""
    if v is None:
        return "NULL"
    t = type(v).__name__
    if isinstance(v, (bytes, bytearray)):
        return "%s:%s" % (t, bytes(v).hex())
    if isinstance(v, (set, frozenset)):
        return "%s:%r" % (t, sorted(v))
    if isinstance(v, (datetime.date, datetime.time)):
        return "%s:%s" % (t, v.isoformat())
    if isinstance(v, decimal.Decimal):
        return "%s:%s" % (t, v)
    return "%s:%r" % (t, v)


def row(r):
    return "[" + ", ".join(val(v) for v in r) + "]"


def err(e):
    args = list(getattr(e, "args", ()))
    code = args[0] if args else ""
    msg = args[1] if len(args) > 1 else ""
    return "%s %s %s" % (type(e).__name__, code, msg)


def step(name, fn):
    """Runs one step; an unexpected error is printed and the flow goes on,
    so that one transcript shows every step that differs."""
    out("==", name)
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every error belongs in the transcript
        out("ERROR", err(e))


def presence(n):
    return "present" if n else "absent"


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)
