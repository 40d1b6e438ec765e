// The application flow through MariaDB Connector/J (Debian's
// libmariadb-java) with its default options; the first argument "server"
// adds useServerPrepStmts=true (server-side prepared statements), "client"
// keeps the default (the driver interpolates parameters). Transactions are
// JDBC's setAutoCommit(false), commit() and rollback().

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

public class Flow {
    static final String[] COLUMNS = "id ti tiu si siu mi miu i iu bi biu dc fl db bt dt dtm ts tm yr ch vc bn vb tx bl en st js".split(" ");
    static final int[] NULL_TYPES = {Types.BIGINT, Types.TINYINT, Types.TINYINT, Types.SMALLINT, Types.SMALLINT, Types.INTEGER,
        Types.INTEGER, Types.INTEGER, Types.BIGINT, Types.BIGINT, Types.NUMERIC, Types.DECIMAL, Types.REAL, Types.DOUBLE, Types.BIT,
        Types.DATE, Types.TIMESTAMP, Types.TIMESTAMP, Types.TIME, Types.SMALLINT, Types.CHAR, Types.VARCHAR, Types.BINARY,
        Types.VARBINARY, Types.LONGVARCHAR, Types.BLOB, Types.VARCHAR, Types.VARCHAR, Types.VARCHAR};

    static String host = System.getenv("SUITE_HOST");
    static String port = System.getenv("SUITE_PORT");
    static String user = System.getenv("SUITE_USER");
    static String db = System.getenv("SUITE_DB");
    static String lock = System.getenv("SUITE_LOCK");
    static String url;

    static void out(Object... parts) {
        StringBuilder b = new StringBuilder();
        for (Object p : parts) {
            if (b.length() > 0) b.append(' ');
            b.append(p);
        }
        System.out.println(b);
    }

    static void check(String name, Object v) {
        out("CHECK " + name + ": " + v);
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    static String val(Object v) {
        if (v == null) return "NULL";
        String t = v.getClass().getSimpleName();
        if (v instanceof byte[]) return t + ":" + hex((byte[]) v);
        if (v instanceof String) return t + ":\"" + v + "\"";
        return t + ":" + v;
    }

    // The driver puts the connection id in messages: "(conn=12) ...".
    static String msg(String m) {
        return m == null ? "null" : m.replaceAll("\\(conn=\\d+\\) ", "(conn=N) ");
    }

    static String errText(SQLException e) {
        return e.getClass().getSimpleName() + " " + e.getErrorCode() + " " + e.getSQLState() + " " + msg(e.getMessage());
    }

    interface Step {
        void run() throws Exception;
    }

    static void step(String name, Step s) {
        out("==", name);
        try {
            s.run();
        } catch (SQLException e) {
            out("ERROR", errText(e));
        } catch (Exception e) {
            out("ERROR", e.toString());
        }
    }

    static void describe(ResultSetMetaData md) throws SQLException {
        for (int i = 1; i <= md.getColumnCount(); i++) {
            out("  column", md.getColumnLabel(i), "name=" + md.getColumnName(i), "type=" + md.getColumnType(i),
                "type_name=" + md.getColumnTypeName(i), "class=" + md.getColumnClassName(i),
                "precision=" + md.getPrecision(i), "scale=" + md.getScale(i), "nullable=" + md.isNullable(i),
                "signed=" + md.isSigned(i), "display=" + md.getColumnDisplaySize(i),
                "table=" + md.getCatalogName(i) + "." + md.getTableName(i), "auto_increment=" + md.isAutoIncrement(i));
        }
    }

    // rows prints the rows and returns their first columns.
    static List<String> rows(ResultSet rs, boolean describe) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        if (describe) describe(md);
        List<String> firsts = new ArrayList<>();
        while (rs.next()) {
            StringBuilder b = new StringBuilder("[");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                if (i > 1) b.append(", ");
                b.append(val(rs.getObject(i)));
            }
            out("row", b.append("]"));
            firsts.add(String.valueOf(rs.getObject(1)));
        }
        rs.close();
        return firsts;
    }

    static void warningsOf(SQLWarning w) {
        for (; w != null; w = w.getNextWarning()) {
            out("  jdbc warning", w.getErrorCode(), w.getSQLState(), msg(w.getMessage()));
        }
    }

    static String showWarnings(Connection c) throws SQLException {
        List<String> codes = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW WARNINGS")) {
            while (rs.next()) {
                out("  warning", rs.getString(1), rs.getInt(2), rs.getString(3));
                codes.add(String.valueOf(rs.getInt(2)));
            }
        }
        return String.join(" ", codes);
    }

    static String count(Connection other, long id) throws SQLException {
        try (PreparedStatement ps = other.prepareStatement("SELECT COUNT(*) FROM acct WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1) > 0 ? "present" : "absent";
            }
        }
    }

    static void bindRow11(PreparedStatement ps) throws SQLException {
        int i = 1;
        ps.setLong(i++, 11);
        ps.setByte(i++, (byte) -5);
        ps.setInt(i++, 200);
        ps.setShort(i++, (short) -300);
        ps.setInt(i++, 60000);
        ps.setInt(i++, -70000);
        ps.setInt(i++, 16000000);
        ps.setInt(i++, -123456);
        ps.setLong(i++, 3000000000L);
        ps.setLong(i++, -9000000000000000000L);
        ps.setBigDecimal(i++, new BigDecimal("18446744073709551000"));
        ps.setBigDecimal(i++, new BigDecimal("12345.678901"));
        ps.setFloat(i++, 0.5f);
        ps.setDouble(i++, 6.02214076e23);
        ps.setInt(i++, 5);
        ps.setDate(i++, java.sql.Date.valueOf("2024-02-29"));
        ps.setTimestamp(i++, Timestamp.valueOf("2024-02-29 13:14:15.123456"));
        ps.setTimestamp(i++, Timestamp.valueOf("2024-03-01 01:02:03.456"));
        ps.setString(i++, "-01:02:03");
        ps.setInt(i++, 2024);
        ps.setString(i++, "ch");
        ps.setString(i++, "vc \u00fc \u20ac");
        ps.setBytes(i++, new byte[] {1, 2, 3, 4});
        ps.setBytes(i++, new byte[] {0, (byte) 0xff});
        ps.setString(i++, "text");
        ps.setBytes(i++, new byte[] {0, 1, 2, (byte) 0xff});
        ps.setString(i++, "medium");
        ps.setString(i++, "green,blue");
        ps.setString(i++, "{\"k\": \"v\", \"n\": 1}");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 || !(args[0].equals("server") || args[0].equals("client"))) {
            System.err.println("usage: java Flow server|client");
            System.exit(2);
        }
        url = "jdbc:mariadb://" + host + ":" + port + "/" + db + "?user=" + user
            + (args[0].equals("server") ? "&useServerPrepStmts=true" : "");
        Connection conn, other;
        try {
            conn = DriverManager.getConnection(url);
            other = DriverManager.getConnection(url);
        } catch (SQLException e) {
            out("ERROR connect", errText(e));
            System.exit(1);
            return;
        }

        step("connect", () -> {
            out("autocommit", conn.getAutoCommit(), "isolation", conn.getTransactionIsolation(), "catalog", conn.getCatalog());
            try (Statement st = conn.createStatement()) {
                rows(st.executeQuery("SELECT @@autocommit, DATABASE()"), false);
            }
        });
        step("introspection", () -> {
            DatabaseMetaData md = conn.getMetaData();
            for (String t : new String[] {"acct", "alltypes"}) {
                try (ResultSet rs = md.getColumns(db, null, t, "%")) {
                    while (rs.next()) {
                        out("  column", t, rs.getString("COLUMN_NAME"), "type=" + rs.getString("TYPE_NAME"),
                            "data_type=" + rs.getInt("DATA_TYPE"), "size=" + rs.getString("COLUMN_SIZE"),
                            "digits=" + rs.getString("DECIMAL_DIGITS"), "nullable=" + rs.getInt("NULLABLE"));
                    }
                }
                try (ResultSet rs = md.getPrimaryKeys(db, null, t)) {
                    while (rs.next()) out("  primary key", t, rs.getString("COLUMN_NAME"));
                }
            }
        });
        step("insert", () -> {
            try (Statement st = conn.createStatement()) {
                for (String q : new String[] {
                    "INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')",
                    "UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)",
                    "UPDATE acct SET note = 'a' WHERE id = 101",
                    "DELETE FROM acct WHERE id = 103"}) {
                    out("affected", st.executeUpdate(q));
                }
            }
        });
        for (Object[] t : new Object[][] {{"rollback", 201L, "rolled back"}, {"commit", 202L, "committed"}}) {
            String name = (String) t[0];
            long id = (Long) t[1];
            step(name, () -> {
                conn.setAutoCommit(false);
                try (PreparedStatement ps = conn.prepareStatement("INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)")) {
                    ps.setLong(1, id);
                    ps.setString(2, (String) t[2]);
                    ps.setLong(3, id - 199);
                    out("affected", ps.executeUpdate());
                }
                check(name + " before", count(other, id));
                if (name.equals("rollback")) {
                    conn.rollback();
                } else {
                    conn.commit();
                }
                check(name, count(other, id));
                conn.setAutoCommit(true);
            });
        }
        step("prepared insert", () -> {
            String q = "INSERT INTO alltypes (" + String.join(", ", COLUMNS) + ") VALUES (" + "?, ".repeat(COLUMNS.length - 1) + "?)";
            try (PreparedStatement ps = conn.prepareStatement(q)) {
                bindRow11(ps);
                out("affected", ps.executeUpdate());
                ps.setLong(1, 12);
                for (int i = 1; i < COLUMNS.length; i++) ps.setNull(i + 1, NULL_TYPES[i]);
                out("affected", ps.executeUpdate());
            }
        });
        step("prepared select", () -> {
            int n = 0;
            try (PreparedStatement ps = conn.prepareStatement("SELECT * FROM alltypes WHERE id = ?")) {
                for (long id : new long[] {1, 2, 3, 11, 12}) {
                    ps.setLong(1, id);
                    n += rows(ps.executeQuery(), id == 1).size();
                }
            }
            check("prepared rows", n);
        });
        step("pagination", () -> {
            try (PreparedStatement ps = conn.prepareStatement("SELECT id, owner, balance FROM acct ORDER BY id LIMIT ? OFFSET ?")) {
                for (int off : new int[] {2, 6, 10}) {
                    ps.setInt(1, 4);
                    ps.setInt(2, off);
                    check("page", String.join(",", rows(ps.executeQuery(), off == 2)));
                }
            }
        });
        step("warnings", () -> {
            try (Statement st = conn.createStatement()) {
                rows(st.executeQuery("SELECT CAST('abc' AS SIGNED) AS v"), false);
                warningsOf(st.getWarnings());
                check("warning", showWarnings(conn));
            }
            try (Statement st = conn.createStatement()) {
                out("affected", st.executeUpdate("INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)"));
                warningsOf(st.getWarnings());
                check("ignore warning", showWarnings(conn));
            }
        });
        step("lock", () -> {
            String[][] calls = {{"lock held", "a", "SELECT GET_LOCK(?, 0)"}, {"lock refused", "b", "SELECT GET_LOCK(?, 0)"},
                {"lock released", "a", "SELECT RELEASE_LOCK(?)"}, {"lock taken", "b", "SELECT GET_LOCK(?, 0)"},
                {"", "b", "SELECT RELEASE_LOCK(?)"}};
            for (String[] c : calls) {
                try (PreparedStatement ps = (c[1].equals("a") ? conn : other).prepareStatement(c[2])) {
                    ps.setString(1, lock);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        String v = rs.getString(1);
                        if (c[0].isEmpty()) {
                            out("other released", v);
                        } else {
                            check(c[0], v);
                        }
                    }
                }
            }
        });
        step("duplicate", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)")) {
                ps.setLong(1, 101);
                ps.setString(2, "dup");
                ps.setLong(3, 0);
                ps.executeUpdate();
                out("no error");
            } catch (SQLException e) {
                out("error", errText(e));
                check("duplicate code", e.getErrorCode());
                check("duplicate sqlstate", e.getSQLState());
                check("duplicate class", e.getClass().getSimpleName());
            }
        });
        step("metadata", () -> {
            try (Statement st = conn.createStatement()) {
                rows(st.executeQuery("SELECT * FROM alltypes ORDER BY id"), true);
                rows(st.executeQuery("SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct"), true);
            }
        });
        conn.close();
        other.close();
        out("== end");
    }
}
