// Command awsjob is a CI job as a user writes it: the stock AWS SDK for Go
// with no static keys, calling STS GetCallerIdentity through whatever
// credentials the default chain finds. The e2e tests run it under
// `chaperone run` with endpoint delivery.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	duration := flag.Duration("for", 0, "keep calling for this long")
	every := flag.Duration("every", time.Second, "pause between calls")
	flag.Parse()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "awsjob:", err)
		os.Exit(1)
	}
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(os.Getenv("CHAPERONE_DEVSTACK_STS_URL"))
	})
	end := time.Now().Add(*duration)
	for {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "awsjob: GetCallerIdentity:", err)
			os.Exit(1)
		}
		fmt.Println("caller", aws.ToString(out.Arn))
		if time.Now().After(end) {
			return
		}
		time.Sleep(*every)
	}
}
