package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
)

// credentialsTimeout bounds the look-up: on a workstation the last sources of the chain
// (container endpoint, EC2 instance metadata) can only time out.
const credentialsTimeout = 15 * time.Second

// checkAWSCredentials resolves credentials the way the AWS provider and the S3 state
// backend will (the SDK's default chain), before Terraform runs: without any, Terraform
// fails after init with a raw provider error that does not say where it looked.
func checkAWSCredentials(ctx context.Context, envName, region string) error {
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err == nil {
		if cfg.Credentials == nil {
			err = errors.New("no credential provider configured")
		} else {
			_, err = cfg.Credentials.Retrieve(ctx)
		}
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no credentials found within %s (%w)", credentialsTimeout, err)
	}
	return Exit(ExitUsage, errors.New(credentialsHelp(envName, region, err)))
}

// credentialsHelp says where the credentials were looked for and how to provide them.
func credentialsHelp(envName, region string, cause error) string {
	profile, fromEnv := os.LookupEnv("AWS_PROFILE")
	if !fromEnv || profile == "" {
		profile = "default"
	}
	set := func(name string) string {
		if os.Getenv(name) != "" {
			return "set"
		}
		return "not set"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no usable AWS credentials for environment %s (region %s): %s\n", envName, region, firstErrLine(cause))
	fmt.Fprintf(&b, "Looked for them as Terraform's AWS provider and state backend will, in this order:\n")
	fmt.Fprintf(&b, "  1. environment variables AWS_ACCESS_KEY_ID (%s), AWS_SECRET_ACCESS_KEY (%s), AWS_SESSION_TOKEN (%s)\n",
		set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY"), set("AWS_SESSION_TOKEN"))
	fmt.Fprintf(&b, "  2. the profile %q (AWS_PROFILE %s) in %s and %s: access keys, IAM Identity Center (SSO), assume-role or credential_process\n",
		profile, set("AWS_PROFILE"), sharedFile("AWS_SHARED_CREDENTIALS_FILE", config.DefaultSharedCredentialsFilename()),
		sharedFile("AWS_CONFIG_FILE", config.DefaultSharedConfigFilename()))
	fmt.Fprintf(&b, "  3. web identity (AWS_WEB_IDENTITY_TOKEN_FILE %s), then container and EC2 instance roles\n", set("AWS_WEB_IDENTITY_TOKEN_FILE"))
	if strings.Contains(strings.ToLower(cause.Error()), "sso") {
		fmt.Fprintf(&b, "The profile %q uses IAM Identity Center (SSO) and has no valid session: run `aws sso login --profile %s`.\n", profile, profile)
	}
	fmt.Fprintf(&b, "Provide them in one of these ways, then run the command again:\n")
	fmt.Fprintf(&b, "  - IAM Identity Center (SSO): aws configure sso --profile NAME; aws sso login --profile NAME; export AWS_PROFILE=NAME\n")
	fmt.Fprintf(&b, "  - a named profile with access keys: aws configure --profile NAME; export AWS_PROFILE=NAME\n")
	fmt.Fprintf(&b, "  - environment variables: export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... (and AWS_SESSION_TOKEN=... for temporary credentials)\n")
	fmt.Fprintf(&b, "  (PowerShell: $env:AWS_PROFILE = \"NAME\")")
	return b.String()
}

// sharedFile is the shared config or credentials file the SDK reads: the environment
// variable's, else the default under the home directory.
func sharedFile(envVar, def string) string {
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	return def
}

func firstErrLine(err error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}
