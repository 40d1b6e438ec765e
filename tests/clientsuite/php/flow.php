<?php
// The application flow through PHP's MySQL APIs, chosen by the first
// argument:
//   pdo     PDO with ATTR_EMULATE_PREPARES off (server-side prepared
//           statements), beginTransaction/commit/rollBack, PHP 8's default
//           exception error mode;
//   mysqli  mysqli's prepare/bind_param/execute (server-side), its
//           begin_transaction/commit/rollback, PHP 8.1's default exception
//           error reporting.
// Both over mysqlnd, with every other option at its default.

$mode = $argv[1] ?? '';
if ($mode !== 'pdo' && $mode !== 'mysqli') {
    fwrite(STDERR, "usage: php flow.php pdo|mysqli\n");
    exit(2);
}
$host = getenv('SUITE_HOST');
$port = (int) getenv('SUITE_PORT');
$user = getenv('SUITE_USER');
$db = getenv('SUITE_DB');
$lock = getenv('SUITE_LOCK');

const COLUMNS = ['id', 'ti', 'tiu', 'si', 'siu', 'mi', 'miu', 'i', 'iu', 'bi', 'biu', 'dc', 'fl', 'db', 'bt',
    'dt', 'dtm', 'ts', 'tm', 'yr', 'ch', 'vc', 'bn', 'vb', 'tx', 'bl', 'en', 'st', 'js'];
// Row 11 of alltypes (row 12 binds the id and NULL for the rest). PHP's
// int stops at 2^63-1: BIGINT UNSIGNED goes as a string.
$row11 = [11, -5, 200, -300, 60000, -70000, 16000000, -123456, 3000000000,
    -9000000000000000000, '18446744073709551000', '12345.678901', 0.5, 6.02214076e23, 5,
    '2024-02-29', '2024-02-29 13:14:15.123456', '2024-03-01 01:02:03.456', '-01:02:03', 2024,
    'ch', "vc \u{fc} \u{20ac}", "\x01\x02\x03\x04", "\x00\xff", 'text', "\x00\x01\x02\xff",
    'medium', 'green,blue', '{"k": "v", "n": 1}'];
$row12 = array_merge([12], array_fill(0, count(COLUMNS) - 1, null));
// mysqli's bind_param types of the two rows: i, d, s (binary strings too).
const ROW_TYPES = 'iiiiiiiiiisdddissssisssssssss';

function out(...$parts) { echo implode(' ', $parts), "\n"; }
function check($name, $value) { out("CHECK $name: $value"); }

function val($v) {
    if ($v === null) return 'NULL';
    if (is_string($v)) {
        if (preg_match('//u', $v) && !preg_match('/[\x00-\x08\x0e-\x1f\x7f]/', $v)) {
            return 'string:' . json_encode($v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
        }
        return 'bytes:' . bin2hex($v);
    }
    return gettype($v) . ':' . var_export($v, true);
}

function row($r) { return '[' . implode(', ', array_map('val', array_values($r))) . ']'; }

function errText($e) {
    $state = $e instanceof PDOException ? ($e->errorInfo[0] ?? '') : ($e instanceof mysqli_sql_exception ? $e->getSqlState() : '');
    $code = $e instanceof PDOException ? ($e->errorInfo[1] ?? $e->getCode()) : $e->getCode();
    return get_class($e) . " $code $state " . $e->getMessage();
}

function step($name, $fn) {
    out('==', $name);
    try {
        $fn();
    } catch (Throwable $e) {
        out('ERROR', errText($e));
    }
}

function connect() {
    global $mode, $host, $port, $user, $db;
    if ($mode === 'pdo') {
        return new PDO("mysql:host=$host;port=$port;dbname=$db", $user, '', [PDO::ATTR_EMULATE_PREPARES => false]);
    }
    return new mysqli($host, $user, '', $db, $port);
}

// q runs a statement with parameters (a server-side prepared statement)
// and returns [rows, metadata, affected rows, last insert id].
function q($c, $sql, $params = [], $types = null) {
    if ($c instanceof PDO) {
        $st = $c->prepare($sql);
        foreach ($params as $i => $p) {
            // Integers bind as integers (what LIMIT needs), as PHP
            // applications bind them; everything else as execute() would.
            $st->bindValue($i + 1, $p, is_int($p) ? PDO::PARAM_INT : ($p === null ? PDO::PARAM_NULL : PDO::PARAM_STR));
        }
        $st->execute();
        $meta = [];
        for ($i = 0; $i < $st->columnCount(); $i++) {
            $meta[] = $st->getColumnMeta($i);
        }
        $rows = $st->columnCount() ? $st->fetchAll(PDO::FETCH_NUM) : [];
        return [$rows, $meta, $st->rowCount(), $c->lastInsertId()];
    }
    $st = $c->prepare($sql);
    if ($params) {
        $types = $types ?? implode('', array_map(fn($p) => is_int($p) ? 'i' : (is_float($p) ? 'd' : 's'), $params));
        $st->bind_param($types, ...$params);
    }
    $st->execute();
    $res = $st->get_result();
    $rows = [];
    $meta = [];
    if ($res) {
        $meta = $res->fetch_fields();
        $rows = $res->fetch_all(MYSQLI_NUM);
    }
    $out = [$rows, $meta, $st->affected_rows, $st->insert_id];
    $st->close();
    return $out;
}

// plain runs a statement without parameters through the text protocol.
function plain($c, $sql) {
    if ($c instanceof PDO) {
        $st = $c->query($sql);
        $meta = [];
        for ($i = 0; $i < $st->columnCount(); $i++) {
            $meta[] = $st->getColumnMeta($i);
        }
        $rows = $st->columnCount() ? $st->fetchAll(PDO::FETCH_NUM) : [];
        return [$rows, $meta, $st->rowCount(), $c->lastInsertId()];
    }
    $res = $c->query($sql);
    if ($res === true) {
        return [[], [], $c->affected_rows, $c->insert_id];
    }
    return [$res->fetch_all(MYSQLI_NUM), $res->fetch_fields(), $c->affected_rows, $c->insert_id];
}

function describe($meta) {
    foreach ($meta as $m) {
        if (is_array($m)) { // PDO
            out('  column', $m['name'], 'native_type=' . ($m['native_type'] ?? '-'), 'pdo_type=' . $m['pdo_type'],
                'flags=' . implode(',', $m['flags']), 'table=' . $m['table'], 'len=' . $m['len'], 'precision=' . $m['precision']);
        } else { // mysqli
            out('  column', $m->name, "org={$m->db}.{$m->orgtable}.{$m->orgname}", "table={$m->table}", "type={$m->type}",
                "length={$m->length}", "max_length={$m->max_length}", "decimals={$m->decimals}", "flags={$m->flags}",
                "charset={$m->charsetnr}");
        }
    }
}

function warnings($c) {
    global $mode;
    if ($mode === 'mysqli') {
        out('  warning_count', $c->warning_count);
    }
    [$rows] = plain($c, 'SHOW WARNINGS');
    foreach ($rows as $w) {
        out('  warning', row($w));
    }
    return implode(' ', array_map(fn($w) => $w[1], $rows));
}

try {
    $conn = connect();
    $other = connect();
} catch (Throwable $e) {
    out('ERROR connect', errText($e));
    exit(1);
}

$count = function ($id) use ($other) {
    [$rows] = q($other, 'SELECT COUNT(*) FROM acct WHERE id = ?', [$id]);
    return $rows[0][0] > 0 ? 'present' : 'absent';
};

step('connect', function () use ($conn, $mode) {
    [$rows] = plain($conn, 'SELECT @@autocommit, DATABASE()');
    out('session', row($rows[0]));
    if ($mode === 'pdo') {
        out('attr autocommit', val($conn->getAttribute(PDO::ATTR_AUTOCOMMIT)));
    }
});
step('insert', function () use ($conn, $mode) {
    foreach ([
        "INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')",
        'UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)',
        "UPDATE acct SET note = 'a' WHERE id = 101",
        'DELETE FROM acct WHERE id = 103',
    ] as $sql) {
        [, , $n, $id] = plain($conn, $sql);
        out('affected', $n, 'insert_id', val($id), 'info', $mode === 'mysqli' ? json_encode($conn->info) : '-');
    }
});
foreach ([['rollback', 201, 'rolled back'], ['commit', 202, 'committed']] as [$name, $id, $owner]) {
    step($name, function () use ($conn, $mode, $count, $name, $id, $owner) {
        $mode === 'pdo' ? $conn->beginTransaction() : $conn->begin_transaction();
        if ($mode === 'pdo') {
            out('in transaction', val($conn->inTransaction()));
        }
        [, , $n] = q($conn, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)', [$id, $owner, $id - 199]);
        out('affected', $n);
        check("$name before", $count($id));
        if ($name === 'rollback') {
            $mode === 'pdo' ? $conn->rollBack() : $conn->rollback();
        } else {
            $conn->commit();
        }
        check($name, $count($id));
    });
}
step('prepared insert', function () use ($conn, $row11, $row12) {
    $sql = 'INSERT INTO alltypes (' . implode(', ', COLUMNS) . ') VALUES (' . implode(', ', array_fill(0, count(COLUMNS), '?')) . ')';
    foreach ([$row11, $row12] as $r) {
        [, , $n] = q($conn, $sql, $r, ROW_TYPES);
        out('affected', $n);
    }
});
step('prepared select', function () use ($conn) {
    $n = 0;
    foreach ([1, 2, 3, 11, 12] as $id) {
        [$rows, $meta] = q($conn, 'SELECT * FROM alltypes WHERE id = ?', [$id]);
        if ($id === 1) {
            describe($meta);
        }
        foreach ($rows as $r) {
            out('row', row($r));
            $n++;
        }
    }
    check('prepared rows', $n);
});
step('pagination', function () use ($conn) {
    foreach ([2, 6, 10] as $off) {
        [$rows] = q($conn, 'SELECT id, owner, balance FROM acct ORDER BY id LIMIT ? OFFSET ?', [4, $off]);
        foreach ($rows as $r) {
            out('row', row($r));
        }
        check('page', implode(',', array_map(fn($r) => $r[0], $rows)));
    }
});
step('warnings', function () use ($conn) {
    [$rows] = plain($conn, "SELECT CAST('abc' AS SIGNED) AS v");
    out('row', row($rows[0]));
    check('warning', warnings($conn));
    [, , $n] = plain($conn, "INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)");
    out('affected', $n);
    check('ignore warning', warnings($conn));
});
step('lock', function () use ($conn, $other, $lock) {
    $get = function ($c, $sql) use ($lock) {
        [$rows] = q($c, $sql, [$lock]);
        return $rows[0][0] === null ? 'NULL' : (string) $rows[0][0];
    };
    check('lock held', $get($conn, 'SELECT GET_LOCK(?, 0)'));
    check('lock refused', $get($other, 'SELECT GET_LOCK(?, 0)'));
    check('lock released', $get($conn, 'SELECT RELEASE_LOCK(?)'));
    check('lock taken', $get($other, 'SELECT GET_LOCK(?, 0)'));
    out('other released', $get($other, 'SELECT RELEASE_LOCK(?)'));
});
step('duplicate', function () use ($conn) {
    try {
        q($conn, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)', [101, 'dup', 0]);
        out('no error');
    } catch (PDOException $e) {
        out('error', errText($e));
        check('duplicate code', $e->errorInfo[1]);
        check('duplicate sqlstate', $e->errorInfo[0]);
    } catch (mysqli_sql_exception $e) {
        out('error', errText($e));
        check('duplicate code', $e->getCode());
        check('duplicate sqlstate', $e->getSqlState());
    }
});
step('metadata', function () use ($conn) {
    foreach (['SELECT * FROM alltypes ORDER BY id',
        'SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct'] as $sql) {
        [$rows, $meta] = plain($conn, $sql);
        describe($meta);
        foreach ($rows as $r) {
            out('row', row($r));
        }
    }
});
out('== end');
