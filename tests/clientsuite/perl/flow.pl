#!/usr/bin/perl
# The application flow through Perl DBI and DBD::MariaDB with the driver's
# defaults (AutoCommit on; RaiseError so that failures are exceptions):
# transactions with begin_work/commit/rollback, statements with parameters
# prepared on the server (mariadb_server_prepare on the statement; the
# driver's default is to interpolate them), DBI's catalog methods for
# introspection.
use strict;
use warnings;
use B ();
use DBI;
use Encode ();

binmode STDOUT, ':encoding(UTF-8)';
$| = 1;

my ($host, $port, $user, $db, $lock) = @ENV{qw(SUITE_HOST SUITE_PORT SUITE_USER SUITE_DB SUITE_LOCK)};
my @COLUMNS = qw(id ti tiu si siu mi miu i iu bi biu dc fl db bt dt dtm ts tm yr ch vc bn vb tx bl en st js);
# Row 11 of alltypes (row 12 binds the id and NULL for the rest).
my @ROW11 = (11, -5, 200, -300, 60000, -70000, 16000000, -123456, 3000000000,
    '-9000000000000000000', '18446744073709551000', '12345.678901', 0.5, 6.02214076e23, 5,
    '2024-02-29', '2024-02-29 13:14:15.123456', '2024-03-01 01:02:03.456', '-01:02:03', 2024,
    'ch', "vc \x{fc} \x{20ac}", "\x01\x02\x03\x04", "\x00\xff", 'text', "\x00\x01\x02\xff",
    'medium', 'green,blue', '{"k": "v", "n": 1}');
my @ROW12 = (12, (undef) x (@COLUMNS - 1));

sub out { print join(' ', @_), "\n" }
sub check { my ($name, $v) = @_; out("CHECK $name: $v") }

# val renders a value with the kind of scalar the driver made of it: an
# integer, a floating-point number, a character string or a byte string.
sub val {
    my ($v) = @_;
    return 'NULL' unless defined $v;
    my $flags = B::svref_2object(\$v)->FLAGS;
    return "int:$v" if $flags & B::SVf_IOK && !($flags & B::SVf_POK);
    return "num:$v" if $flags & B::SVf_NOK && !($flags & B::SVf_POK);
    if (utf8::is_utf8($v)) {
        (my $s = $v) =~ s/([\\"])/\\$1/g;
        return "str:\"$s\"";
    }
    return 'bytes:' . unpack('H*', $v) if $v =~ /[^\x20-\x7e]/;
    return "bytes:\"$v\"";
}

sub row { '[' . join(', ', map { val($_) } @{ $_[0] }) . ']' }

sub err_text {
    my ($h, $e) = @_;
    my $err = $h ? $h->err // '' : '';
    my $state = $h ? $h->state // '' : '';
    my $msg = $h && $h->errstr ? $h->errstr : "$e";
    chomp $msg;
    return "$err $state $msg";
}

my ($dbh, $other);

sub step {
    my ($name, $fn) = @_;
    out('==', $name);
    eval { $fn->(); 1 } or out('ERROR', err_text($dbh, $@));
}

sub connect_db {
    return DBI->connect("DBI:MariaDB:database=$db;host=$host;port=$port", $user, '',
        { RaiseError => 1, PrintError => 0 });
}

eval {
    $dbh = connect_db();
    $other = connect_db();
    1;
} or do {
    out('ERROR connect', err_text(undef, $@ || $DBI::errstr));
    exit 1;
};

# prep prepares a statement on the server.
sub prep { my ($h, $sql) = @_; return $h->prepare($sql, { mariadb_server_prepare => 1 }) }

sub describe {
    my ($sth) = @_;
    for my $i (0 .. $sth->{NUM_OF_FIELDS} - 1) {
        out('  column', $sth->{NAME}[$i], "type=$sth->{TYPE}[$i]", "mariadb_type=$sth->{mariadb_type}[$i]",
            "type_name=$sth->{mariadb_type_name}[$i]", 'precision=' . ($sth->{PRECISION}[$i] // 'undef'),
            'scale=' . ($sth->{SCALE}[$i] // 'undef'), "nullable=$sth->{NULLABLE}[$i]",
            "length=$sth->{mariadb_length}[$i]", "max_length=$sth->{mariadb_max_length}[$i]",
            "is_num=$sth->{mariadb_is_num}[$i]", "is_blob=$sth->{mariadb_is_blob}[$i]",
            "is_pri_key=$sth->{mariadb_is_pri_key}[$i]", "table=$sth->{mariadb_table}[$i]");
    }
}

sub count {
    my ($id) = @_;
    my $sth = prep($other, 'SELECT COUNT(*) FROM acct WHERE id = ?');
    $sth->execute($id);
    my ($n) = $sth->fetchrow_array;
    return $n > 0 ? 'present' : 'absent';
}

sub warnings {
    my ($h) = @_;
    out('  warning_count', $h->{mariadb_warning_count});
    my $rows = $h->selectall_arrayref('SHOW WARNINGS');
    out('  warning', row($_)) for @$rows;
    return join(' ', map { $_->[1] } @$rows);
}

step('connect', sub {
    out('AutoCommit', $dbh->{AutoCommit});
    out('session', row($dbh->selectrow_arrayref('SELECT @@autocommit, DATABASE()')));
});
step('introspection', sub {
    for my $t (qw(acct alltypes)) {
        my $sth = $dbh->column_info(undef, $db, $t, '%');
        while (my $c = $sth->fetchrow_hashref) {
            out('  column', $t, $c->{COLUMN_NAME}, "type=$c->{TYPE_NAME}", "data_type=$c->{DATA_TYPE}",
                'size=' . ($c->{COLUMN_SIZE} // 'undef'), 'digits=' . ($c->{DECIMAL_DIGITS} // 'undef'),
                "nullable=$c->{NULLABLE}", "position=$c->{ORDINAL_POSITION}");
        }
        out('  primary key', $t, join(',', $dbh->primary_key(undef, $db, $t)));
    }
});
step('insert', sub {
    for my $sql (
        "INSERT INTO acct (id, owner, balance, note) VALUES (101, 'flow', 10.50, 'a'), (102, 'flow', 20.25, NULL), (103, 'flow', -3.00, 'c')",
        'UPDATE acct SET balance = balance + 1 WHERE id IN (101, 102)',
        "UPDATE acct SET note = 'a' WHERE id = 101",
        'DELETE FROM acct WHERE id = 103') {
        my $n = $dbh->do($sql);
        out('affected', $n, 'insertid', $dbh->{mariadb_insertid}, 'info', $dbh->{mariadb_info} // 'undef');
    }
});
for my $t (['rollback', 201, 'rolled back'], ['commit', 202, 'committed']) {
    my ($name, $id, $owner) = @$t;
    step($name, sub {
        $dbh->begin_work;
        out('AutoCommit', $dbh->{AutoCommit});
        my $sth = prep($dbh, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)');
        out('affected', $sth->execute($id, $owner, $id - 199));
        check("$name before", count($id));
        $name eq 'rollback' ? $dbh->rollback : $dbh->commit;
        check($name, count($id));
    });
}
step('prepared insert', sub {
    my $sth = prep($dbh, 'INSERT INTO alltypes (' . join(', ', @COLUMNS) . ') VALUES (' . join(', ', ('?') x @COLUMNS) . ')');
    for my $r (\@ROW11, \@ROW12) {
        # Binary columns bind as bytes, text columns as characters.
        for my $i (0 .. $#COLUMNS) {
            my $attr = $COLUMNS[$i] =~ /^(bn|vb|bl)$/ ? DBI::SQL_VARBINARY() : undef;
            $sth->bind_param($i + 1, $r->[$i], $attr);
        }
        out('affected', $sth->execute);
    }
});
step('prepared select', sub {
    my $n = 0;
    my $sel = prep($dbh, 'SELECT * FROM alltypes WHERE id = ?');
    for my $id (1, 2, 3, 11, 12) {
        $sel->execute($id);
        describe($sel) if $id == 1;
        while (my $r = $sel->fetchrow_arrayref) {
            out('row', row($r));
            $n++;
        }
    }
    check('prepared rows', $n);
});
step('pagination', sub {
    my $sth = prep($dbh, 'SELECT id, owner, balance FROM acct ORDER BY id LIMIT ? OFFSET ?');
    for my $off (2, 6, 10) {
        $sth->execute(4, $off);
        my $rows = $sth->fetchall_arrayref;
        out('row', row($_)) for @$rows;
        check('page', join(',', map { $_->[0] } @$rows));
    }
});
step('warnings', sub {
    my $sth = $dbh->prepare("SELECT CAST('abc' AS SIGNED) AS v");
    $sth->execute;
    out('row', row($sth->fetchrow_arrayref));
    out('  statement warning_count', $sth->{mariadb_warning_count});
    check('warning', warnings($dbh));
    out('affected', $dbh->do("INSERT IGNORE INTO acct (id, owner, balance) VALUES (101, 'dup', 0)"));
    check('ignore warning', warnings($dbh));
});
step('lock', sub {
    my $get = sub {
        my ($h, $sql) = @_;
        my $sth = prep($h, $sql);
        $sth->execute($lock);
        my ($v) = $sth->fetchrow_array;
        return $v // 'NULL';
    };
    check('lock held', $get->($dbh, 'SELECT GET_LOCK(?, 0)'));
    check('lock refused', $get->($other, 'SELECT GET_LOCK(?, 0)'));
    check('lock released', $get->($dbh, 'SELECT RELEASE_LOCK(?)'));
    check('lock taken', $get->($other, 'SELECT GET_LOCK(?, 0)'));
    out('other released', $get->($other, 'SELECT RELEASE_LOCK(?)'));
});
step('duplicate', sub {
    my $sth = prep($dbh, 'INSERT INTO acct (id, owner, balance) VALUES (?, ?, ?)');
    if (eval { $sth->execute(101, 'dup', 0); 1 }) {
        out('no error');
        return;
    }
    out('error', err_text($dbh, $@));
    check('duplicate code', $dbh->err);
    check('duplicate sqlstate', $dbh->state);
});
step('metadata', sub {
    for my $sql ('SELECT * FROM alltypes ORDER BY id',
        'SELECT COUNT(*) AS n, SUM(balance) AS total, MAX(owner) AS mx, MIN(note) AS mn FROM acct') {
        my $sth = $dbh->prepare($sql);
        $sth->execute;
        describe($sth);
        while (my $r = $sth->fetchrow_arrayref) {
            out('row', row($r));
        }
    }
});
$dbh->disconnect;
$other->disconnect;
out('== end');
