package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupCPURoot is the cgroup v1 cpu controller's hierarchy.
const cgroupCPURoot = "/sys/fs/cgroup/cpu"

// cpuCap is a cgroup v1 cpu group whose processes together get at most a
// share of one CPU (cpu.cfs_quota_us per cpu.cfs_period_us): a stand-in
// for a server of their own on a machine whose cores everything shares.
type cpuCap struct{ dir string }

// minCFSQuota is the smallest quota the kernel takes (1 ms).
const minCFSQuota = time.Millisecond

// newCPUCap makes (or reuses) the group name capped at share of a CPU,
// measured over period: the group runs share*period of every period and
// is then frozen until the next. The shorter the period, the more the
// group behaves like a slower CPU rather than one that stops: with the
// kernel's default 100 ms, a server capped at 10% answers nothing for
// 90 ms at a time, and clients it shares with other servers pile up
// waiting for it. The quota cannot go below 1 ms, so period is raised
// to share it at least that.
func newCPUCap(name string, share float64, period time.Duration) (*cpuCap, error) {
	dir := filepath.Join(cgroupCPURoot, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	if min := time.Duration(float64(minCFSQuota) / share); period < min {
		period = min
	}
	c := &cpuCap{dir: dir}
	// The quota first when it shrinks, so that it never exceeds the
	// period being written (the kernel refuses that).
	if err := c.write("cpu.cfs_quota_us", "-1"); err != nil {
		return nil, err
	}
	if err := c.write("cpu.cfs_period_us", strconv.FormatInt(period.Microseconds(), 10)); err != nil {
		return nil, err
	}
	if err := c.write("cpu.cfs_quota_us", strconv.FormatInt(int64(share*float64(period.Microseconds())), 10)); err != nil {
		return nil, err
	}
	return c, nil
}

// cpuCapsAvailable says why CPU caps cannot be used here, or nil.
func cpuCapsAvailable() error {
	probe := filepath.Join(cgroupCPURoot, "shardbench-probe")
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("the cgroup v1 cpu controller is not writable at %s (%v): run as root on a host that mounts it", cgroupCPURoot, err)
	}
	return os.Remove(probe)
}

// add moves a process, all its threads, into the group.
func (c *cpuCap) add(pid int) error { return c.write("cgroup.procs", strconv.Itoa(pid)) }

// remove moves the group's processes back to the root group and deletes
// the group.
func (c *cpuCap) remove() error {
	data, _ := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	for _, pid := range strings.Fields(string(data)) {
		_ = os.WriteFile(filepath.Join(cgroupCPURoot, "cgroup.procs"), []byte(pid), 0)
	}
	return os.Remove(c.dir)
}

func (c *cpuCap) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s: write %s: %w", c.dir, file, err)
	}
	return nil
}
