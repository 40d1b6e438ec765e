//go:build !unix

package daemon

// KeepSysmonAwake does nothing where processes cannot re-execute
// themselves; see sysmon.go.
func KeepSysmonAwake() {}
