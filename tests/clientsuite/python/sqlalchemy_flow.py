"""The application flow through the SQLAlchemy ORM (1.4 with the 2.0-style
API, future=True) over its default MySQL driver (mysqlclient), with the engine's and the
Session's defaults: the dialect's own introspection at first connect,
autobegin sessions ended by commit() and rollback(), a connection pool
that rolls back connections as they come back.
"""

import sys

from sqlalchemy import (JSON, BigInteger, Column, Date, DateTime, Enum, Float, Integer, LargeBinary, Numeric,
                        String, Text, Time, create_engine, delete, func, inspect, select, text, update)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, declarative_base

from suite import (AGGREGATE, ALLTYPES_COLUMNS, CAST_WARNING, DB, HOST, INSERT_IGNORE, LOCK, PAGE_OFFSETS,
                   PAGE_SIZE, PORT, ROW11, USER, check, err, out, presence, row, step, val)

Base = declarative_base()


class Acct(Base):
    __tablename__ = "acct"
    id = Column(BigInteger, primary_key=True, autoincrement=False)
    owner = Column(String(32), nullable=False)
    balance = Column(Numeric(12, 2), nullable=False)
    note = Column(String(8))


class AllTypes(Base):
    __tablename__ = "alltypes"
    id = Column(BigInteger, primary_key=True, autoincrement=False)
    ti = Column(mysql.TINYINT)
    tiu = Column(mysql.TINYINT(unsigned=True))
    si = Column(mysql.SMALLINT)
    siu = Column(mysql.SMALLINT(unsigned=True))
    mi = Column(mysql.MEDIUMINT)
    miu = Column(mysql.MEDIUMINT(unsigned=True))
    i = Column(Integer)
    iu = Column(mysql.INTEGER(unsigned=True))
    bi = Column(BigInteger)
    biu = Column(mysql.BIGINT(unsigned=True))
    dc = Column(Numeric(20, 6))
    fl = Column(Float)
    db = Column(mysql.DOUBLE)
    bt = Column(mysql.BIT(8))
    dt = Column(Date)
    dtm = Column(mysql.DATETIME(fsp=6))
    ts = Column(mysql.TIMESTAMP(fsp=3))
    tm = Column(Time)
    yr = Column(mysql.YEAR)
    ch = Column(mysql.CHAR(10))
    vc = Column(String(100))
    bn = Column(mysql.BINARY(4))
    vb = Column(mysql.VARBINARY(16))
    tx = Column(Text)
    bl = Column(LargeBinary)
    en = Column(Enum("small", "medium", "large"))
    st = Column(mysql.SET("red", "green", "blue"))
    js = Column(JSON)


def obj(o, cls):
    names = [c.name for c in cls.__table__.columns]
    return "[" + ", ".join(val(getattr(o, n)) for n in names) + "]"


def main():
    engine = create_engine("mysql://%s@%s:%d/%s" % (USER, HOST, PORT, DB), future=True)
    try:
        first = engine.connect()
    except Exception as e:  # noqa: BLE001
        out("ERROR connect", err(e))
        sys.exit(1)

    def count(id_):
        """Whether the row is there, seen from another pooled connection."""
        with engine.connect() as c:
            return presence(c.execute(select(func.count()).select_from(Acct).where(Acct.id == id_)).scalar_one())

    def s_connect():
        out("isolation", first.get_isolation_level())
        out("session", row(first.execute(text("SELECT @@autocommit, DATABASE()")).one()))
        first.rollback()
        out("dialect", engine.dialect.name, "mariadb", engine.dialect.is_mariadb,
            "sql_mode ansi_quotes", engine.dialect._server_ansiquotes)
        first.close()

    def s_introspect():
        insp = inspect(engine)
        out("tables", sorted(insp.get_table_names()))
        for t in ("acct", "alltypes"):
            for c in insp.get_columns(t):
                out("  column", t, c["name"], repr(c["type"]), "nullable", c["nullable"], "default", c["default"])
            out("  pk", t, insp.get_pk_constraint(t)["constrained_columns"])

    def s_insert():
        with Session(engine) as s:
            s.add_all([Acct(id=101, owner="flow", balance="10.50", note="a"),
                       Acct(id=102, owner="flow", balance="20.25"),
                       Acct(id=103, owner="flow", balance="-3.00", note="c")])
            s.commit()
            r = s.execute(update(Acct).where(Acct.id.in_([101, 102])).values(balance=Acct.balance + 1))
            out("rowcount", r.rowcount)
            r = s.execute(update(Acct).where(Acct.id == 101).values(note="a"))
            out("rowcount", r.rowcount)
            r = s.execute(delete(Acct).where(Acct.id == 103))
            out("rowcount", r.rowcount)
            s.commit()

    def s_rollback():
        with Session(engine) as s:
            s.add(Acct(id=201, owner="rolled back", balance=1))
            s.flush()
            check("rollback before", count(201))
            s.rollback()
            check("rollback", count(201))

    def s_commit():
        with Session(engine) as s:
            s.add(Acct(id=202, owner="committed", balance=2))
            s.flush()
            check("commit before", count(202))
            s.commit()
            check("commit", count(202))

    def s_insert_types():
        with Session(engine) as s:
            s.add(AllTypes(**dict(zip(ALLTYPES_COLUMNS, ROW11))))
            s.add(AllTypes(id=12))
            s.commit()

    def s_select_types():
        with Session(engine) as s:
            n = 0
            for id_ in (1, 2, 3, 11, 12):
                o = s.get(AllTypes, id_)
                out("row", obj(o, AllTypes))
                n += 1
            check("prepared rows", n)

    def s_pages():
        with Session(engine) as s:
            for off in PAGE_OFFSETS:
                rows = s.execute(select(Acct).order_by(Acct.id).limit(PAGE_SIZE).offset(off)).scalars().all()
                for o in rows:
                    out("row", obj(o, Acct))
                check("page", ",".join(str(o.id) for o in rows))

    def s_warnings():
        with engine.connect() as c:
            out("row", row(c.execute(text(CAST_WARNING)).one()))
            ws = c.execute(text("SHOW WARNINGS")).all()
            for w in ws:
                out("  warning", row(w))
            check("warning", " ".join(str(w[1]) for w in ws))
            r = c.execute(text(INSERT_IGNORE))
            out("rowcount", r.rowcount)
            ws = c.execute(text("SHOW WARNINGS")).all()
            for w in ws:
                out("  warning", row(w))
            check("ignore warning", " ".join(str(w[1]) for w in ws))
            c.commit()

    def s_lock():
        q = text("SELECT GET_LOCK(:n, 0)")
        with engine.connect() as a, engine.connect() as b:
            check("lock held", a.execute(q, {"n": LOCK}).scalar())
            check("lock refused", b.execute(q, {"n": LOCK}).scalar())
            check("lock released", a.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK}).scalar())
            check("lock taken", b.execute(q, {"n": LOCK}).scalar())
            out("other released", b.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK}).scalar())

    def s_duplicate():
        with Session(engine) as s:
            s.add(Acct(id=101, owner="dup", balance=0))
            try:
                s.commit()
                out("no error")
            except DBAPIError as e:
                out("error", type(e).__name__, err(e.orig))
                check("duplicate code", e.orig.args[0])
                check("duplicate class", type(e).__name__)
                s.rollback()

    def s_metadata():
        with engine.connect() as c:
            r = c.execute(text("SELECT * FROM alltypes ORDER BY id"))
            for d in r.cursor.description:
                out("  column", repr(tuple(d)))
            for x in r.all():
                out("row", row(x))
            r = c.execute(text(AGGREGATE))
            for d in r.cursor.description:
                out("  column", repr(tuple(d)))
            out("row", row(r.one()))
        with Session(engine) as s:
            for o in s.execute(select(AllTypes).order_by(AllTypes.id)).scalars():
                out("orm", obj(o, AllTypes))

    step("connect", s_connect)
    step("introspection", s_introspect)
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
    engine.dispose()
    out("== end")


main()
