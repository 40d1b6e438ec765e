package clientsuite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/shopspring/decimal"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The statements and values every flow uses (the other languages' flows
// spell the same ones).
const (
	insertRows    = "INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')"
	updateRows    = "UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)"
	updateNoop    = "UPDATE acct SET note = 'a' WHERE id = 101"
	deleteRow     = "DELETE FROM acct WHERE id = 103"
	castWarning   = "SELECT CAST('abc' AS SIGNED) AS v"
	insertIgnore  = "INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)"
	aggregate     = "SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct"
	insertAcct    = "INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)"
	countAcct     = "SELECT COUNT(*) FROM acct WHERE id = ?"
	selectPage    = "SELECT id, owner, balance FROM acct ORDER BY id LIMIT ? OFFSET ?"
	selectAllType = "SELECT * FROM alltypes WHERE id = ?"
	selectAll     = "SELECT * FROM alltypes ORDER BY id"
	pageSize      = 4
)

var (
	pageOffsets    = []int{2, 6, 10}
	allTypesColumn = strings.Fields("id ti tiu si siu mi miu i iu bi biu dc fl db bt dt dtm ts tm yr ch vc bn vb tx bl en st js")
	insertAllTypes = "INSERT INTO alltypes (" + strings.Join(allTypesColumn, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(allTypesColumn)), ", ") + ")"
	// row11 is bound by the prepared INSERT; row 12 binds the id and NULL
	// for every other column. BIGINT UNSIGNED is above 2^63.
	row11 = []any{
		int64(11), int64(-5), int64(200), int64(-300), int64(60000), int64(-70000), int64(16000000), int64(-123456), int64(3000000000),
		int64(-9000000000000000000), uint64(18446744073709551000),
		"12345.678901", 0.5, 6.02214076e23, int64(5),
		"2024-02-29", time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC),
		time.Date(2024, 3, 1, 1, 2, 3, 456000000, time.UTC), "-01:02:03", int64(2024),
		"ch", "vc ü €", []byte{1, 2, 3, 4}, []byte{0, 0xff}, "text", []byte{0, 1, 2, 0xff},
		"medium", "green,blue", `{"k": "v", "n": 1}`,
	}
	row12 = append([]any{int64(12)}, make([]any, len(allTypesColumn)-1)...)
)

// transcript collects what a Go flow saw, in the same shape as the other
// languages' flows print it.
type transcript struct{ b strings.Builder }

func (tr *transcript) out(format string, args ...any) {
	fmt.Fprintf(&tr.b, format+"\n", args...)
}

func (tr *transcript) check(name string, v any) { tr.out("CHECK %s: %v", name, v) }

// step runs one step; an unexpected error goes into the transcript and the
// flow goes on.
func (tr *transcript) step(name string, fn func() error) {
	tr.out("== %s", name)
	if err := fn(); err != nil {
		tr.out("ERROR %s", errText(err))
	}
}

func (tr *transcript) String() string { return tr.b.String() }

func errText(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("mysql %d %s %s", me.Number, string(me.SQLState[:]), me.Message)
	}
	return err.Error()
}

func presence(n int64) string {
	if n > 0 {
		return "present"
	}
	return "absent"
}

// goVal renders a value as database/sql (or GORM) handed it over: its Go
// type and value.
func goVal(v any) string {
	if v == nil {
		return "NULL"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL"
		}
		return "*" + goVal(rv.Elem().Interface())
	}
	switch x := v.(type) {
	case []byte:
		if x == nil {
			return "NULL"
		}
		if printable(x) {
			return fmt.Sprintf("[]byte:%q", x)
		}
		return "[]byte:" + hex.EncodeToString(x)
	case sql.RawBytes:
		return "RawBytes:" + hex.EncodeToString(x)
	case string:
		return fmt.Sprintf("string:%q", x)
	case time.Time:
		return "time.Time:" + x.Format(time.RFC3339Nano)
	case decimal.Decimal:
		return "decimal:" + x.String()
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// printable reports whether b is UTF-8 text without control characters.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func goRow(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = goVal(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// printRows prints the column types (when describe) and every row, and
// returns the first column of each row as text.
func printRows(tr *transcript, rows *sql.Rows, describe bool) ([]string, error) {
	defer rows.Close()
	if describe {
		cts, err := rows.ColumnTypes()
		if err != nil {
			return nil, err
		}
		for _, ct := range cts {
			line := fmt.Sprintf("  column %s type=%s scan=%v", ct.Name(), ct.DatabaseTypeName(), ct.ScanType())
			if l, ok := ct.Length(); ok {
				line += fmt.Sprintf(" length=%d", l)
			}
			if p, s, ok := ct.DecimalSize(); ok {
				line += fmt.Sprintf(" decimal=%d,%d", p, s)
			}
			if n, ok := ct.Nullable(); ok {
				line += fmt.Sprintf(" nullable=%v", n)
			}
			tr.out("%s", line)
		}
	}
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var firsts []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return firsts, err
		}
		tr.out("row %s", goRow(vals))
		firsts = append(firsts, fmt.Sprint(vals[0]))
		if b, ok := vals[0].([]byte); ok {
			firsts[len(firsts)-1] = string(b)
		}
	}
	return firsts, rows.Err()
}

func printResult(tr *transcript, res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	tr.out("affected %d last_insert_id %d", n, id)
	return nil
}

// querier is what both *sql.DB and *sql.Conn offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// showWarnings prints SHOW WARNINGS on q and returns the codes.
func showWarnings(ctx context.Context, tr *transcript, q querier) (string, error) {
	rows, err := q.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var codes []string
	for rows.Next() {
		var level, msg string
		var code int
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return "", err
		}
		tr.out("  warning %s %d %s", level, code, msg)
		codes = append(codes, fmt.Sprint(code))
	}
	return strings.Join(codes, " "), rows.Err()
}

func goSQLFlow(name string, interpolate bool) flow {
	return flow{
		name:   name,
		checks: sqlstateChecks(),
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			dsn := fmt.Sprintf("root@tcp(%s)/%s", tg.addr(), keyspace)
			if interpolate {
				dsn += "?interpolateParams=true"
			}
			return runGoSQL(tg, dsn, interpolate, tg.env(name))
		},
	}
}

// lockName is the flow's lock, as the other languages get it from
// SUITE_LOCK.
func lockName(env []string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "SUITE_LOCK="); ok {
			return v
		}
	}
	return "suite_lock"
}

// runGoSQL is the flow through go-sql-driver/mysql with database/sql's
// defaults: a pool, autocommit, BeginTx/Commit/Rollback, and statements
// with arguments prepared on the server (executed and closed) unless
// interpolateParams makes the driver inline them.
func runGoSQL(tg *target, dsn string, interpolate bool, env []string) (string, error) {
	tr := &transcript{}
	lock := lockName(env)
	ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
	defer cancel()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		tr.out("ERROR connect %s", errText(err))
		return tr.String(), err
	}
	count := func(id int64) (string, error) {
		var n int64
		err := db.QueryRowContext(ctx, countAcct, id).Scan(&n)
		return presence(n), err
	}

	tr.step("connect", func() error {
		rows, err := db.QueryContext(ctx, "SELECT @@autocommit, DATABASE()")
		if err != nil {
			return err
		}
		_, err = printRows(tr, rows, false)
		return err
	})
	tr.step("insert", func() error {
		for _, q := range []string{insertRows, updateRows, updateNoop, deleteRow} {
			res, err := db.ExecContext(ctx, q)
			if err := printResult(tr, res, err); err != nil {
				return err
			}
		}
		return nil
	})
	txStep := func(id int64, owner string, commit bool) func() error {
		return func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck // after Commit or Rollback it does nothing
			res, err := tx.ExecContext(ctx, insertAcct, id, owner, id-199)
			if err := printResult(tr, res, err); err != nil {
				return err
			}
			what := map[bool]string{false: "rollback", true: "commit"}[commit]
			p, err := count(id)
			if err != nil {
				return err
			}
			tr.check(what+" before", p)
			if commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				return err
			}
			p, err = count(id)
			tr.check(what, p)
			return err
		}
	}
	tr.step("rollback", txStep(201, "rolled back", false))
	tr.step("commit", txStep(202, "committed", true))
	tr.step("prepared insert", func() error {
		if interpolate {
			for _, r := range [][]any{row11, row12} {
				res, err := db.ExecContext(ctx, insertAllTypes, r...)
				if err := printResult(tr, res, err); err != nil {
					return err
				}
			}
		} else {
			stmt, err := db.PrepareContext(ctx, insertAllTypes)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, r := range [][]any{row11, row12} {
				res, err := stmt.ExecContext(ctx, r...)
				if err := printResult(tr, res, err); err != nil {
					return err
				}
			}
		}
		return nil
	})
	tr.step("prepared select", func() error {
		n := 0
		for _, id := range wantAllTypesIDs {
			rows, err := db.QueryContext(ctx, selectAllType, id)
			if err != nil {
				return err
			}
			got, err := printRows(tr, rows, id == 1)
			if err != nil {
				return err
			}
			n += len(got)
		}
		tr.check("prepared rows", n)
		return nil
	})
	tr.step("pagination", func() error {
		for _, off := range pageOffsets {
			rows, err := db.QueryContext(ctx, selectPage, pageSize, off)
			if err != nil {
				return err
			}
			ids, err := printRows(tr, rows, off == pageOffsets[0])
			if err != nil {
				return err
			}
			tr.check("page", strings.Join(ids, ","))
		}
		return nil
	})
	tr.step("warnings", func() error {
		// SHOW WARNINGS must run on the session that raised them.
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		rows, err := conn.QueryContext(ctx, castWarning)
		if err != nil {
			return err
		}
		if _, err := printRows(tr, rows, false); err != nil {
			return err
		}
		codes, err := showWarnings(ctx, tr, conn)
		if err != nil {
			return err
		}
		tr.check("warning", codes)
		res, err := conn.ExecContext(ctx, insertIgnore)
		if err := printResult(tr, res, err); err != nil {
			return err
		}
		codes, err = showWarnings(ctx, tr, conn)
		tr.check("ignore warning", codes)
		return err
	})
	tr.step("lock", func() error {
		a, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer b.Close()
		get := func(c *sql.Conn, q string) (string, error) {
			var v sql.NullInt64
			err := c.QueryRowContext(ctx, q, lock).Scan(&v)
			if !v.Valid {
				return "NULL", err
			}
			return fmt.Sprint(v.Int64), err
		}
		for _, l := range []struct {
			name string
			c    *sql.Conn
			q    string
		}{
			{"lock held", a, "SELECT GET_LOCK(?, 0)"},
			{"lock refused", b, "SELECT GET_LOCK(?, 0)"},
			{"lock released", a, "SELECT RELEASE_LOCK(?)"},
			{"lock taken", b, "SELECT GET_LOCK(?, 0)"},
			{"", b, "SELECT RELEASE_LOCK(?)"},
		} {
			v, err := get(l.c, l.q)
			if err != nil {
				return err
			}
			if l.name == "" {
				tr.out("other released %s", v)
			} else {
				tr.check(l.name, v)
			}
		}
		return nil
	})
	tr.step("duplicate", func() error {
		_, err := db.ExecContext(ctx, insertAcct, 101, "dup", 0)
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			tr.out("no MySQL error: %v", err)
			return nil
		}
		tr.out("error %s", errText(err))
		tr.check("duplicate code", me.Number)
		tr.check("duplicate sqlstate", string(me.SQLState[:]))
		return nil
	})
	tr.step("metadata", func() error {
		for _, q := range []string{selectAll, aggregate} {
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				return err
			}
			if _, err := printRows(tr, rows, true); err != nil {
				return err
			}
		}
		return nil
	})
	tr.out("== end")
	return tr.String(), nil
}

// GORM's models of the two tables, with GORM's default naming (snake
// case columns) and the table names given.
type gormAcct struct {
	ID      int64
	Owner   string
	Balance decimal.Decimal
	Note    *string
}

func (gormAcct) TableName() string { return "acct" }

type gormAllTypes struct {
	ID  int64
	Ti  *int8
	Tiu *uint8
	Si  *int16
	Siu *uint16
	Mi  *int32
	Miu *uint32
	I   *int32
	Iu  *uint32
	Bi  *int64
	Biu *uint64
	Dc  *decimal.Decimal
	Fl  *float32
	Db  *float64
	Bt  []byte
	Dt  *time.Time
	Dtm *time.Time
	Ts  *time.Time
	Tm  *string
	Yr  *int16
	Ch  *string
	Vc  *string
	Bn  []byte
	Vb  []byte
	Tx  *string
	Bl  []byte
	En  *string
	St  *string
	Js  *string
}

func (gormAllTypes) TableName() string { return "alltypes" }

func gormChecks() []string {
	checks := sqlstateChecks()
	for i, c := range checks {
		if c == "commit: present" {
			return append(checks[:i+1:i+1], append([]string{"savepoint outer: present", "savepoint inner: absent"}, checks[i+1:]...)...)
		}
	}
	panic("no commit check")
}

func ptr[T any](v T) *T { return &v }

func gormFlow() flow {
	return flow{
		name: "gorm",
		// A nested transaction (a savepoint) after the commit; the pages
		// checked are the bound ones (GORM writes LIMIT into the text).
		checks:       gormChecks(),
		extraAcctIDs: []int64{203},
		run: func(t *testing.T, s *suite, tg *target) (string, error) {
			return runGORM(tg, lockName(tg.env("gorm")))
		},
	}
}

// runGORM is the flow through GORM with its default configuration (but a
// silent logger) over gorm.io/driver/mysql, whose DSN is the one GORM
// documents (parseTime, so that time.Time fields scan).
func runGORM(tg *target, lock string) (string, error) {
	tr := &transcript{}
	ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
	defer cancel()
	dsn := fmt.Sprintf("root@tcp(%s)/%s?charset=utf8mb4&parseTime=True&loc=UTC", tg.addr(), keyspace)
	db, err := gorm.Open(gormmysql.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		tr.out("ERROR connect %s", errText(err))
		return tr.String(), err
	}
	db = db.WithContext(ctx)
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}
	count := func(id int64) (string, error) {
		var n int64
		err := db.Model(&gormAcct{}).Where("id = ?", id).Count(&n).Error
		return presence(n), err
	}
	printAcct := func(a gormAcct) {
		tr.out("acct %s", goRow([]any{a.ID, a.Owner, a.Balance, a.Note}))
	}
	printAllTypes := func(o gormAllTypes) {
		v := reflect.ValueOf(o)
		vals := make([]any, v.NumField())
		for i := range vals {
			vals[i] = v.Field(i).Interface()
		}
		tr.out("row %s", goRow(vals))
	}

	tr.step("introspection", func() error {
		m := db.Migrator()
		tr.out("has acct %v alltypes %v", m.HasTable(&gormAcct{}), m.HasTable(&gormAllTypes{}))
		for _, model := range []any{&gormAcct{}, &gormAllTypes{}} {
			cts, err := m.ColumnTypes(model)
			if err != nil {
				return err
			}
			for _, ct := range cts {
				line := fmt.Sprintf("  column %s type=%s", ct.Name(), ct.DatabaseTypeName())
				if c, ok := ct.ColumnType(); ok {
					line += " coltype=" + c
				}
				if pk, ok := ct.PrimaryKey(); ok {
					line += fmt.Sprintf(" pk=%v", pk)
				}
				if n, ok := ct.Nullable(); ok {
					line += fmt.Sprintf(" nullable=%v", n)
				}
				if l, ok := ct.Length(); ok {
					line += fmt.Sprintf(" length=%d", l)
				}
				if p, s, ok := ct.DecimalSize(); ok {
					line += fmt.Sprintf(" decimal=%d,%d", p, s)
				}
				if d, ok := ct.DefaultValue(); ok {
					line += " default=" + d
				}
				tr.out("%s", line)
			}
		}
		return nil
	})
	tr.step("insert", func() error {
		accts := []gormAcct{
			{ID: 101, Owner: "flow", Balance: decimal.RequireFromString("10.50"), Note: ptr("a")},
			{ID: 102, Owner: "flow", Balance: decimal.RequireFromString("20.25")},
			{ID: 103, Owner: "flow", Balance: decimal.RequireFromString("-3.00"), Note: ptr("c")},
		}
		res := db.Create(&accts)
		if res.Error != nil {
			return res.Error
		}
		tr.out("created %d ids %d %d %d", res.RowsAffected, accts[0].ID, accts[1].ID, accts[2].ID)
		res = db.Model(&gormAcct{}).Where("id IN ?", []int64{101, 102}).Update("balance", gorm.Expr("balance + ?", 1))
		if res.Error != nil {
			return res.Error
		}
		tr.out("updated %d", res.RowsAffected)
		res = db.Model(&gormAcct{ID: 101}).Update("note", "a")
		if res.Error != nil {
			return res.Error
		}
		tr.out("updated %d", res.RowsAffected)
		res = db.Delete(&gormAcct{ID: 103})
		if res.Error != nil {
			return res.Error
		}
		tr.out("deleted %d", res.RowsAffected)
		return nil
	})
	tr.step("rollback", func() error {
		tx := db.Begin()
		if tx.Error != nil {
			return tx.Error
		}
		if err := tx.Create(&gormAcct{ID: 201, Owner: "rolled back", Balance: decimal.NewFromInt(1)}).Error; err != nil {
			tx.Rollback()
			return err
		}
		p, err := count(201)
		if err != nil {
			tx.Rollback()
			return err
		}
		tr.check("rollback before", p)
		if err := tx.Rollback().Error; err != nil {
			return err
		}
		p, err = count(201)
		tr.check("rollback", p)
		return err
	})
	tr.step("commit", func() error {
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormAcct{ID: 202, Owner: "committed", Balance: decimal.NewFromInt(2)}).Error; err != nil {
				return err
			}
			p, err := count(202)
			tr.check("commit before", p)
			return err
		})
		if err != nil {
			return err
		}
		p, err := count(202)
		tr.check("commit", p)
		return err
	})
	tr.step("savepoint", func() error {
		// A nested Transaction is a savepoint: its error rolls back only
		// its own insert. The inserts are raw statements, so that this
		// step tests the savepoints whatever becomes of Create's
		// RETURNING.
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(insertAcct, 203, "outer", 3).Error; err != nil {
				return err
			}
			inner := tx.Transaction(func(tx2 *gorm.DB) error {
				if err := tx2.Exec(insertAcct, 204, "inner", 4).Error; err != nil {
					return err
				}
				return errors.New("inner transaction rolled back")
			})
			tr.out("inner: %s", errText(inner))
			return nil
		})
		if err != nil {
			return err
		}
		p, err := count(203)
		if err != nil {
			return err
		}
		tr.check("savepoint outer", p)
		p, err = count(204)
		tr.check("savepoint inner", p)
		return err
	})
	tr.step("prepared insert", func() error {
		o := gormAllTypes{ID: 11, Ti: ptr(int8(-5)), Tiu: ptr(uint8(200)), Si: ptr(int16(-300)), Siu: ptr(uint16(60000)),
			Mi: ptr(int32(-70000)), Miu: ptr(uint32(16000000)), I: ptr(int32(-123456)), Iu: ptr(uint32(3000000000)),
			Bi: ptr(int64(-9000000000000000000)), Biu: ptr(uint64(18446744073709551000)),
			Dc: ptr(decimal.RequireFromString("12345.678901")), Fl: ptr(float32(0.5)), Db: ptr(6.02214076e23), Bt: []byte{5},
			Dt:  ptr(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)),
			Dtm: ptr(time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)),
			Ts:  ptr(time.Date(2024, 3, 1, 1, 2, 3, 456000000, time.UTC)),
			Tm:  ptr("-01:02:03"), Yr: ptr(int16(2024)), Ch: ptr("ch"), Vc: ptr("vc ü €"), Bn: []byte{1, 2, 3, 4}, Vb: []byte{0, 0xff},
			Tx: ptr("text"), Bl: []byte{0, 1, 2, 0xff}, En: ptr("medium"), St: ptr("green,blue"), Js: ptr(`{"k": "v", "n": 1}`)}
		for _, r := range []*gormAllTypes{&o, {ID: 12}} {
			res := db.Create(r)
			if res.Error != nil {
				return res.Error
			}
			tr.out("created %d id %d", res.RowsAffected, r.ID)
		}
		return nil
	})
	tr.step("prepared select", func() error {
		n := 0
		for _, id := range wantAllTypesIDs {
			var got gormAllTypes
			if err := db.First(&got, id).Error; err != nil {
				return err
			}
			printAllTypes(got)
			n++
		}
		tr.check("prepared rows", n)
		return nil
	})
	tr.step("pagination", func() error {
		// GORM writes LIMIT and OFFSET into the statement's text; a raw
		// statement binds them.
		for _, off := range pageOffsets {
			var page []gormAcct
			if err := db.Order("id").Limit(pageSize).Offset(off).Find(&page).Error; err != nil {
				return err
			}
			var ids []string
			for _, a := range page {
				printAcct(a)
				ids = append(ids, fmt.Sprint(a.ID))
			}
			tr.out("orm page %s", strings.Join(ids, ","))
		}
		for _, off := range pageOffsets {
			var page []gormAcct
			if err := db.Raw(selectPage, pageSize, off).Scan(&page).Error; err != nil {
				return err
			}
			var ids []string
			for _, a := range page {
				printAcct(a)
				ids = append(ids, fmt.Sprint(a.ID))
			}
			tr.check("page", strings.Join(ids, ","))
		}
		return nil
	})
	tr.step("warnings", func() error {
		return db.Connection(func(c *gorm.DB) error {
			var v sql.NullInt64
			if err := c.Raw(castWarning).Scan(&v).Error; err != nil {
				return err
			}
			tr.out("value %s", goVal(v))
			type warning struct {
				Level   string
				Code    int
				Message string
			}
			var ws []warning
			if err := c.Raw("SHOW WARNINGS").Scan(&ws).Error; err != nil {
				return err
			}
			var codes []string
			for _, w := range ws {
				tr.out("  warning %s %d %s", w.Level, w.Code, w.Message)
				codes = append(codes, fmt.Sprint(w.Code))
			}
			tr.check("warning", strings.Join(codes, " "))
			res := c.Exec(insertIgnore)
			if res.Error != nil {
				return res.Error
			}
			tr.out("affected %d", res.RowsAffected)
			ws = nil
			if err := c.Raw("SHOW WARNINGS").Scan(&ws).Error; err != nil {
				return err
			}
			codes = nil
			for _, w := range ws {
				tr.out("  warning %s %d %s", w.Level, w.Code, w.Message)
				codes = append(codes, fmt.Sprint(w.Code))
			}
			tr.check("ignore warning", strings.Join(codes, " "))
			return nil
		})
	})
	tr.step("lock", func() error {
		return db.Connection(func(a *gorm.DB) error {
			return db.Connection(func(b *gorm.DB) error {
				get := func(c *gorm.DB, q string) (string, error) {
					var v sql.NullInt64
					err := c.Raw(q, lock).Scan(&v).Error
					if !v.Valid {
						return "NULL", err
					}
					return fmt.Sprint(v.Int64), err
				}
				for _, l := range []struct {
					name string
					c    *gorm.DB
					q    string
				}{
					{"lock held", a, "SELECT GET_LOCK(?, 0)"},
					{"lock refused", b, "SELECT GET_LOCK(?, 0)"},
					{"lock released", a, "SELECT RELEASE_LOCK(?)"},
					{"lock taken", b, "SELECT GET_LOCK(?, 0)"},
					{"", b, "SELECT RELEASE_LOCK(?)"},
				} {
					v, err := get(l.c, l.q)
					if err != nil {
						return err
					}
					if l.name == "" {
						tr.out("other released %s", v)
					} else {
						tr.check(l.name, v)
					}
				}
				return nil
			})
		})
	})
	tr.step("duplicate", func() error {
		err := db.Create(&gormAcct{ID: 101, Owner: "dup"}).Error
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			tr.out("no MySQL error: %v", err)
			return nil
		}
		tr.out("error %s", errText(err))
		tr.check("duplicate code", me.Number)
		tr.check("duplicate sqlstate", string(me.SQLState[:]))
		return nil
	})
	tr.step("metadata", func() error {
		rows, err := db.Raw(selectAll).Rows()
		if err != nil {
			return err
		}
		if _, err := printRows(tr, rows, true); err != nil {
			return err
		}
		var all []gormAllTypes
		if err := db.Order("id").Find(&all).Error; err != nil {
			return err
		}
		for _, o := range all {
			printAllTypes(o)
		}
		type agg struct {
			N     int64
			Total decimal.Decimal
			Mx    string
			Mn    *string
		}
		var a agg
		if err := db.Raw(aggregate).Scan(&a).Error; err != nil {
			return err
		}
		tr.out("aggregate %s", goRow([]any{a.N, a.Total, a.Mx, a.Mn}))
		return nil
	})
	tr.out("== end")
	return tr.String(), nil
}
