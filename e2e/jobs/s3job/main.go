// Command s3job is a CI job as a user writes it: the stock AWS SDK for
// Go's S3 client with no static keys, using whatever credentials the
// default chain finds (the variables of env delivery, or the container
// credentials endpoint of endpoint delivery). It lists the buckets, writes
// an object and reads it back, and exits non-zero if any step fails or the
// object read differs from the one written. The e2e tests run it under
// `chaperone run` against a real MinIO server.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("S3_ENDPOINT"), "S3 endpoint URL (default $S3_ENDPOINT)")
	bucket := flag.String("bucket", "", "bucket to write to")
	key := flag.String("key", "s3job/object.txt", "object key")
	flag.Parse()
	if err := run(*endpoint, *bucket, *key); err != nil {
		fmt.Fprintln(os.Stderr, "s3job:", err)
		os.Exit(1)
	}
}

func run(endpoint, bucket, key string) error {
	if endpoint == "" || bucket == "" {
		return fmt.Errorf("-endpoint (or S3_ENDPOINT) and -bucket are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true // MinIO serves buckets as paths on one host
	})
	list, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return fmt.Errorf("ListBuckets: %w", err)
	}
	var names []string
	for _, b := range list.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	fmt.Println("buckets:", strings.Join(names, ","))

	body := []byte(fmt.Sprintf("written by s3job pid %d at %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339Nano)))
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("PutObject: %w", err)
	}
	fmt.Printf("put s3://%s/%s (%d bytes)\n", bucket, key, len(body))

	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("GetObject: %w", err)
	}
	defer got.Body.Close()
	read, err := io.ReadAll(io.LimitReader(got.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GetObject: reading: %w", err)
	}
	if !bytes.Equal(read, body) {
		return fmt.Errorf("GetObject: read %q, wrote %q", read, body)
	}
	fmt.Printf("get s3://%s/%s: the same %d bytes\n", bucket, key, len(read))
	return nil
}
