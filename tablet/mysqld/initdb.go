package mysqld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// initSQL runs once, at the end of mariadb-install-db, inside the bootstrap
// server. That server writes no binary log, so these changes leave no GTID
// behind that a replica or a resharding stream would have to account for.
const initSQL = `-- Added by shardgate tablet/mysqld.
-- root over TCP from 127.0.0.1 with an empty password, like root@localhost,
-- in case this mariadb-install-db did not create it.
INSERT IGNORE INTO mysql.global_priv (Host, User, Priv)
  SELECT '127.0.0.1', User, Priv FROM mysql.global_priv WHERE Host = 'localhost' AND User = 'root';
-- The server runs with skip-name-resolve: root@<hostname> could never log in
-- and would only add a warning to error.log at every start.
DELETE FROM mysql.global_priv
  WHERE User = 'root' AND Host = @current_hostname AND Host NOT IN ('localhost', '127.0.0.1', '::1');
DELETE FROM mysql.proxies_priv
  WHERE Host = @current_hostname AND Host NOT IN ('localhost', '127.0.0.1', '::1');
`

// Init creates the MariaDB datadir DataDir/data with mariadb-install-db (or
// mysql_install_db) unless it already holds one, in which case Init does
// nothing: restarting a server keeps its data.
//
// The new datadir has no test database and root has an empty password, both
// as root@localhost (socket) and root@127.0.0.1 (TCP). Init needs no network
// (it skips the host name lookup) and takes well under a second. It builds
// the datadir under another name and renames it into place, so an Init that
// fails or is cancelled through ctx leaves no half-made DataDir/data behind.
// Init must not run concurrently with itself or with Start for one DataDir.
func Init(ctx context.Context, cfg Config) error {
	cfg, err := cfg.resolved()
	if err != nil {
		return err
	}
	data := cfg.ServerDataDir()
	switch state, err := datadirState(data); {
	case err != nil:
		return err
	case state == datadirReady:
		cfg.Log.Debug("mysqld: data directory already initialized", zap.String("datadir", data))
		return nil
	case state == datadirForeign:
		return fmt.Errorf("mysqld: %s exists but holds no MariaDB data directory: remove it or choose another DataDir", data)
	case state == datadirEmpty:
		if err := os.Remove(data); err != nil {
			return fmt.Errorf("mysqld: init: %w", err)
		}
	}
	// Directories above DataDir that this makes are open to enter (0755),
	// so that the server can run as UnprivilegedUser (see runAs).
	if err := os.MkdirAll(filepath.Dir(cfg.DataDir), 0o755); err != nil {
		return fmt.Errorf("mysqld: init: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("mysqld: init: %w", err)
	}
	installer, err := findInstallDB(cfg.Binary)
	if err != nil {
		return err
	}

	staging := data + ".init"
	if err := os.RemoveAll(staging); err != nil { // left by an earlier Init that crashed
		return fmt.Errorf("mysqld: init: %w", err)
	}
	sqlFile := filepath.Join(cfg.DataDir, "init.sql")
	if err := os.WriteFile(sqlFile, []byte(initSQL), 0o600); err != nil {
		return fmt.Errorf("mysqld: init: %w", err)
	}
	defer os.Remove(sqlFile)

	// A tmpdir of its own: concurrent bootstrap servers sharing /tmp fail
	// now and then on each other's temporary tables ("Unknown table
	// 'mysql.tmp_proxies_priv'").
	tmp := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return fmt.Errorf("mysqld: init: %w", err)
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + staging,
		"--tmpdir=" + tmp,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--force", // skip resolveip of the host name: no DNS, no network
		"--extra-file=" + sqlFile,
		// No --user even as root: the bootstrap server runs as root without
		// it, and with it the script chowns MariaDB's system-wide PAM tool.
	}
	// The bootstrap server writes only the system tables: relaxed is safe,
	// a failed Init starts over.
	args = append(args, sizingArgs...)
	args = append(args, durabilityArgs(DurabilityRelaxed)[0])
	cmd := exec.CommandContext(ctx, installer, args...)
	// The script runs "mariadbd --bootstrap"; make it run our binary.
	cmd.Env = append(os.Environ(), "MYSQLD_BOOTSTRAP="+cfg.Binary)
	cmd.Dir = cfg.DataDir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// The script is a shell that starts the bootstrap server: on
	// cancellation kill the whole process group, not only the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(staging)
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("mysqld: init %s: %s: %w\n%s", data, filepath.Base(installer), err, lastLines(out.Bytes(), 20))
	}
	if state, err := datadirState(staging); err != nil || state != datadirReady {
		_ = os.RemoveAll(staging)
		return fmt.Errorf("mysqld: init %s: %s succeeded but made no system tables\n%s", data, filepath.Base(installer), lastLines(out.Bytes(), 20))
	}
	if err := os.Rename(staging, data); err != nil {
		_ = os.RemoveAll(staging)
		return fmt.Errorf("mysqld: init: %w", err)
	}
	cfg.Log.Info("mysqld: initialized data directory",
		zap.String("datadir", data), zap.String("installer", installer), zap.Duration("took", time.Since(start)))
	return nil
}

type datadirStatus int

const (
	datadirMissing datadirStatus = iota // no such directory
	datadirEmpty                        // an empty directory
	datadirForeign                      // a directory with something else in it
	datadirReady                        // an initialized MariaDB datadir
)

// datadirState tells what dir holds. A datadir is initialized when it has the
// system tables: mariadb-install-db checks mysql/user.frm the same way.
func datadirState(dir string) (datadirStatus, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return datadirMissing, nil
	case err != nil:
		return 0, fmt.Errorf("mysqld: %w", err)
	case len(entries) == 0:
		return datadirEmpty, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "mysql", "user.frm")); err == nil {
		return datadirReady, nil
	}
	return datadirForeign, nil
}
