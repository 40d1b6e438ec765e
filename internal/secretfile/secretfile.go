// Package secretfile reads secrets (passwords, tokens) from files or the
// environment, so that they never appear on a command line, where
// /proc/<pid>/cmdline, ps and pprof show them to anyone on the host.
package secretfile

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the secret in path (its content, without the trailing
// newline an editor adds). A file others may read is refused: the point
// is to keep the secret from them.
func Read(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("secret file %s is readable by group or others (mode %v): chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// Resolve fills *value, in order of preference, from the file at path
// (when path is not empty), from the environment variable env (when set),
// or leaves it as it is (a flag's value).
func Resolve(value *string, path, env string) error {
	if path != "" {
		v, err := Read(path)
		if err != nil {
			return err
		}
		*value = v
		return nil
	}
	if v, ok := os.LookupEnv(env); ok {
		*value = v
	}
	return nil
}
