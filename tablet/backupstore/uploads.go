package backupstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AbortStaleUploads aborts the shard's unfinished multipart uploads that
// began before olderThan and for which keep returns false (keep gets the
// key relative to the shard). A failed upload is aborted by the blob
// driver; this cleans up after processes that died mid-upload, or whose
// abort could not reach the store. Stores other than S3 have no such
// uploads: it returns 0.
func (sh Shard) AbortStaleUploads(ctx context.Context, olderThan time.Time, keep func(key string) bool) (int, error) {
	var client *s3.Client
	if sh.store.s3Bucket == "" || !sh.store.bucket.As(&client) {
		return 0, nil
	}
	prefix := sh.store.s3Prefix + sh.prefix()
	aborted := 0
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(sh.store.s3Bucket), Prefix: aws.String(prefix)}
	for {
		out, err := client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, fmt.Errorf("list unfinished uploads under %s in %s: %w", prefix, sh.store.url, err)
		}
		for _, up := range out.Uploads {
			key := aws.ToString(up.Key)
			if up.Initiated != nil && up.Initiated.After(olderThan) {
				continue
			}
			if keep != nil && keep(strings.TrimPrefix(key, prefix)) {
				continue
			}
			_, err := client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(sh.store.s3Bucket), Key: up.Key, UploadId: up.UploadId,
			})
			if err != nil {
				return aborted, fmt.Errorf("abort the unfinished upload of %s in %s: %w", key, sh.store.url, err)
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
