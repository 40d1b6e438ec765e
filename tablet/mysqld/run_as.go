package mysqld

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// UnprivilegedUser is the account a server started by root runs as: the
// one Debian's mariadb-server package creates. A server that runs as root
// can be made to read and write any file of the host by a statement that
// slips past the gate; as mysql it reaches only what mysql owns.
const UnprivilegedUser = "mysql"

// runAs decides whom mariadbd runs as. Not root: as ourselves (""). Root:
// as UnprivilegedUser, with DataDir handed to it (chown -R: files a
// restore or mariadb-backup wrote as root become its), when that account
// exists and can reach DataDir through every directory above it; else as
// root, with the reason, which Start logs.
func runAs(cfg Config) (account, whyRoot string, err error) {
	if os.Geteuid() != 0 {
		return "", "", nil
	}
	u, err := user.Lookup(UnprivilegedUser)
	if err != nil {
		return "root", fmt.Sprintf("there is no user %q: %v", UnprivilegedUser, err), nil
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return "root", fmt.Sprintf("user %q has a non-numeric uid or gid", UnprivilegedUser), nil
	}
	if dir, ok := reachable(filepath.Dir(cfg.DataDir), uid, gid); !ok {
		return "root", fmt.Sprintf("user %q cannot enter %s (choose a data dir it can reach, e.g. under /var/lib)", UnprivilegedUser, dir), nil
	}
	if err := chownTree(cfg.DataDir, uid, gid); err != nil {
		return "", "", fmt.Errorf("mysqld: hand %s to user %s: %w", cfg.DataDir, UnprivilegedUser, err)
	}
	return UnprivilegedUser, "", nil
}

// reachable reports whether uid/gid may enter dir and every directory above
// it (search permission), and if not, the first one it may not enter.
func reachable(dir string, uid, gid int) (string, bool) {
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return dir, false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return dir, false
		}
		mode := fi.Mode().Perm()
		var may bool
		switch {
		case int(st.Uid) == uid:
			may = mode&0o100 != 0
		case int(st.Gid) == gid:
			may = mode&0o010 != 0
		default:
			may = mode&0o001 != 0
		}
		if !may {
			return dir, false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", true
		}
		dir = parent
	}
}

// chownTree gives root and everything under it to uid/gid, skipping what
// is already theirs.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(path, uid, gid)
	})
}
