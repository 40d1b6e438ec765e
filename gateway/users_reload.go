package gateway

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// usersFilePoll is how often the gate looks whether the users file
// changed.
const usersFilePoll = 2 * time.Second

// watchUsersFile reloads the users file into auth when it changes or the
// gate gets SIGHUP, until ctx ends. A file that does not load (bad JSON,
// a bad grant) is refused and logged, and the users loaded before stay:
// a typo never locks everyone out. Open sessions keep going; their next
// statements see the new rights.
func watchUsersFile(ctx context.Context, path string, auth *Authenticator, log *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	last, _ := os.ReadFile(path)
	tick := time.NewTicker(usersFilePoll)
	defer tick.Stop()
	for {
		signalled := false
		select {
		case <-ctx.Done():
			return
		case <-hup:
			signalled = true
		case <-tick.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if signalled {
				log.Error("users file not reloaded: cannot read it; the users loaded before stay", zap.String("file", path), zap.Error(err))
			}
			continue
		}
		if !signalled && bytes.Equal(data, last) {
			continue
		}
		last = data
		users, err := parseUsersFile(path, data)
		if err == nil {
			err = auth.Reload(users)
		}
		if err != nil {
			log.Error("users file refused; the users loaded before stay", zap.String("file", path), zap.Error(err))
			continue
		}
		log.Info("users file reloaded", zap.String("file", path), zap.Int("users", len(users)))
	}
}
