//go:build !(linux || darwin || freebsd)

package connpool

import "vitess.io/vitess/go/mysql"

// alive cannot look at the socket here: idle connections are trusted.
func alive(*mysql.Conn) bool { return true }
