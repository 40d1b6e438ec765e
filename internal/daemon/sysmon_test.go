//go:build unix

package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary play a daemon that re-executes itself.
func TestMain(m *testing.M) {
	if os.Getenv("SHARDGATE_TEST_SYSMON_CHILD") != "" {
		KeepSysmonAwake()
		fmt.Printf("GODEBUG=%s pid=%d\n", os.Getenv("GODEBUG"), os.Getpid())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "SHARDGATE_TEST_SYSMON_CHILD=1")...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if want := fmt.Sprintf("pid=%d", cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Fatalf("child printed %q; the re-executed process must keep the pid (%s)", out, want)
	}
	return strings.TrimSpace(string(out))
}

func TestKeepSysmonAwakeSetsSchedtraceOnce(t *testing.T) {
	out := runChild(t, "GODEBUG=", reexecEnv+"=")
	if !strings.HasPrefix(out, "GODEBUG="+sysmonSetting+" ") {
		t.Fatalf("child saw %q, want GODEBUG=%s", out, sysmonSetting)
	}
	out = runChild(t, "GODEBUG=gctrace=0", reexecEnv+"=")
	if !strings.HasPrefix(out, "GODEBUG=gctrace=0,"+sysmonSetting+" ") {
		t.Fatalf("child saw %q: other GODEBUG settings must be kept", out)
	}
	out = runChild(t, "GODEBUG=schedtrace=1000", reexecEnv+"=")
	if !strings.HasPrefix(out, "GODEBUG=schedtrace=1000 ") {
		t.Fatalf("child saw %q: an operator's schedtrace must win", out)
	}
}
