// Package s3server runs a real S3-compatible server on loopback for tests
// and benchmarks: versitygw (Apache-2.0) with its posix backend, which
// keeps each bucket as a directory. `make deps` installs the binary into
// bin/tools.
//
// A Server can be stopped and started again on the same port and
// directory (its objects survive), so that tests can make the store go
// away in the middle of a backup.
package s3server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Version is the versitygw release `make deps` installs.
const Version = "v1.8.0"

// Credentials of the server's root account.
const (
	AccessKey = "shardgate-test"
	SecretKey = "shardgate-test-secret"
	Region    = "us-east-1"
)

// Server is a running versitygw. Its methods are not safe for concurrent
// use.
type Server struct {
	bin  string
	Dir  string // the posix backend's root: one directory per bucket
	Port int
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// FindBinary returns versitygw: $VERSITYGW, then dirs (e.g. bin/tools),
// then $PATH and $HOME/go/bin.
func FindBinary(dirs ...string) (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p, nil
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "versitygw"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		if p := filepath.Join(home, "go", "bin", "versitygw"); isExecutable(p) {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found: run `make deps` (go install github.com/versity/versitygw/cmd/versitygw@" + Version + ")")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Start runs versitygw with its data in dir on a free loopback port and
// returns once it answers.
func Start(ctx context.Context, bin, dir string) (*Server, error) {
	port, err := freeport.Get()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, Dir: filepath.Join(dir, "data"), Port: port, log: filepath.Join(dir, "versitygw.log")}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return nil, err
	}
	return s, s.Restart(ctx)
}

// Endpoint is the server's URL, http://127.0.0.1:port.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

// Env is the environment an S3 client of the server needs.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=" + Region}
}

// URL is a backup store URL (tablet/backupstore) for bucket/prefix.
func (s *Server) URL(bucket, prefix string) string {
	q := url.Values{"endpoint": {s.Endpoint()}, "region": {Region}, "use_path_style": {"true"}}
	return "s3://" + bucket + "/" + prefix + "?" + q.Encode()
}

// Restart starts the server again after Stop (or for the first time).
func (s *Server) Restart(ctx context.Context) error {
	logFile, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.Port), "--quiet", "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited at start; see %s", s.log)
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("versitygw does not listen on port %d; see %s", s.Port, s.log)
		}
	}
}

// Stop kills the server at once, as a crash or a network failure would
// end it, and waits until it is gone. Stop may be called more than once.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// CreateBucket creates a bucket through the S3 API.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	_, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Client is an S3 client of the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}
