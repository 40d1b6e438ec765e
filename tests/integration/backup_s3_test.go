package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardgate/shardgate/internal/s3server"
	"github.com/shardgate/shardgate/proto/backuppb"
	"github.com/shardgate/shardgate/tablet/backup"
)

// startS3 runs versitygw on loopback with a bucket, stopped when the test
// ends, and puts its credentials in this process's environment (the AWS
// SDK reads them there).
func startS3(t *testing.T, bucket string) *s3server.Server {
	t.Helper()
	bin, err := s3server.FindBinary(filepath.Join(binDir, "tools"), "../../bin/tools")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := s3server.Start(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestBackupToS3StoppedMidwayIsNeverUsable stops the S3 server while a
// backup uploads: the backup fails, is listed as incomplete only, is
// removed by prune with the multipart uploads left behind, and the next
// backup, once the store is back, restores the data exactly.
func TestBackupToS3StoppedMidwayIsNeverUsable(t *testing.T) {
	srv := startS3(t, "backups")
	cfg, db := startBackupMySQLD(t)
	execEach(t, db,
		"CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(255))",
		"INSERT INTO big SELECT seq, REPEAT(CONCAT('p', seq), 20) FROM seq_1_to_100000",
		"CREATE TABLE small (id INT PRIMARY KEY)", "INSERT INTO small VALUES (1), (2)")
	want := checksums(t, db, "ks", "big", "small")
	e := newEngine(t, cfg, srv.URL("backups", "prod"), func(c *backup.Config) { c.ChunkBytes = 64 << 10 })
	ctx := context.Background()

	failed := make(chan error, 1)
	go func() {
		_, err := e.Backup(ctx, "logical", nil)
		failed <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if p := e.Current(); p != nil && p.BytesDone > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup stored nothing within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Stop()
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("the backup succeeded although the store stopped midway")
		}
		t.Logf("the backup failed as it should: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the backup neither finished nor failed within 2 minutes of the store stopping")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := e.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Backups) != 0 || len(list.Incomplete) != 1 {
		t.Fatalf("after the failed backup: %d usable backups, incomplete %v; want none usable and one incomplete", len(list.Backups), list.Incomplete)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "x"}, nil); err == nil || !strings.Contains(err.Error(), "no complete backup") {
		t.Fatalf("a restore with only an incomplete backup: %v", err)
	}

	// An unfinished multipart upload, as a crash mid-upload leaves it.
	client := srv.Client()
	key := "prod/ks/0/backups/" + list.Incomplete[0] + "/tables/big/999999.tsv.zst"
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("backups"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("backups"), Key: aws.String(key), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader(strings.Repeat("x", 1<<20))}); err != nil {
		t.Fatal(err)
	}
	pruned, err := e.Prune(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pruned.DeletedIncomplete) != 1 || pruned.AbortedUploads != 1 {
		t.Fatalf("prune: %v; want the incomplete backup deleted and one upload aborted", pruned)
	}
	uploads, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("backups")})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Fatalf("multipart uploads left: %v (%v)", uploads, err)
	}
	objs, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("backups"), Prefix: aws.String("prod/ks/0/backups/")})
	if err != nil || len(objs.Contents) != 0 {
		t.Fatalf("objects of the failed backup are left: %d (%v)", len(objs.Contents), err)
	}

	m, err := e.Backup(ctx, "logical", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Verify(ctx, m.Name, nil); err != nil || !res.Ok {
		t.Fatalf("verify: %v, %v", res, err)
	}
	if err := e.Restore(ctx, &backuppb.RestoreRequest{IntoDatabase: "from_s3"}, nil); err != nil {
		t.Fatal(err)
	}
	sameChecksums(t, "restored from S3", checksums(t, db, "from_s3", "big", "small"), want)
}
