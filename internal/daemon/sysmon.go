//go:build unix

package daemon

import (
	"os"
	"strings"
	"syscall"
)

// sysmonSetting keeps the Go runtime's monitor thread (sysmon) out of its
// deep sleep. Without it, every time all of a process's Ps go idle —
// between two statements, thousands of times a second in a gate or tablet
// that is not saturated — sysmon parks, the next system call wakes it
// (a futex wake and a context switch), and it then polls every 20 us for
// at least 50 rounds before backing off. Measured on the 2-vCPU
// development VM under sysbench, that was about one sysmon context switch
// per statement and 15-25% of the gate's and the tablet's CPU; with the
// setting, sysmon backs off to one poll every 10 ms as it does in a busy
// program (golang/go#18236 describes the hard-coded tick).
//
// schedtrace=N also prints one line of scheduler state to stderr every N
// milliseconds; N is the largest value the runtime accepts (24.8 days), so
// the line is rare. A fatal runtime error then also dumps the scheduler's
// state before the goroutine traces. GODEBUG's runtime settings are read
// only at start-up, and //go:debug does not accept this one, hence the
// re-execution.
const sysmonSetting = "schedtrace=2147483647"

// reexecEnv marks the re-executed process, so that a failure to apply the
// setting can never loop.
const reexecEnv = "SHARDGATE_SYSMON_REEXEC"

// KeepSysmonAwake re-executes the running binary (same pid, arguments and
// environment) with sysmonSetting added to GODEBUG, unless GODEBUG already
// sets schedtrace (an operator's choice wins) or this is the re-executed
// process. It returns only when it does not re-execute; call it first in
// main, before any goroutine or file is opened.
func KeepSysmonAwake() {
	godebug := os.Getenv("GODEBUG")
	if os.Getenv(reexecEnv) != "" || strings.Contains(godebug, "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	env := []string{"GODEBUG=" + godebug + sysmonSetting, reexecEnv + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	// On success Exec does not return; on failure the process simply runs
	// without the setting.
	_ = syscall.Exec(exe, os.Args, env)
}
