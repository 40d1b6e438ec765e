package mysqld

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrBinaryNotFound is returned by FindBinary (and by Init and Start when
// Config.Binary is empty) when no server binary is installed.
var ErrBinaryNotFound = errors.New(`mariadbd not found in PATH or /usr/sbin: install MariaDB with "apt-get install mariadb-server"`)

// serverNames are the names of the MariaDB server binary, newest first:
// MariaDB 10.5+ calls it mariadbd and keeps mysqld as a link for a while.
var serverNames = []string{"mariadbd", "mysqld"}

// installDBNames are the names of the data directory bootstrap script.
var installDBNames = []string{"mariadb-install-db", "mysql_install_db"}

// FindBinary returns the path of the MariaDB server: mariadbd, then mysqld,
// looked up in PATH and then in /usr/sbin (which is often not in a user's
// PATH). When there is none it returns ErrBinaryNotFound, whose message tells
// the user what to install.
func FindBinary() (string, error) {
	return findExecutable(serverNames, "/usr/sbin")
}

// findInstallDB returns the path of mariadb-install-db (or
// mysql_install_db): in PATH, beside the server binary, in the bin directory
// next to the server's sbin, or in /usr/bin.
func findInstallDB(server string) (string, error) {
	dir := filepath.Dir(server)
	p, err := findExecutable(installDBNames, dir, filepath.Join(dir, "..", "bin"), filepath.Join(dir, "..", "scripts"), "/usr/bin")
	if err != nil {
		return "", errors.New(`mariadb-install-db not found in PATH, beside ` + server + ` or in /usr/bin: install MariaDB with "apt-get install mariadb-server"`)
	}
	return p, nil
}

// findExecutable returns the first of names found in PATH, then the first
// found in dirs, in order; ErrBinaryNotFound when none is.
func findExecutable(names []string, dirs ...string) (string, error) {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return filepath.Abs(p)
		}
	}
	for _, dir := range dirs {
		for _, name := range names {
			p := filepath.Join(dir, name)
			if isExecutable(p) {
				return filepath.Clean(p), nil
			}
		}
	}
	return "", ErrBinaryNotFound
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
