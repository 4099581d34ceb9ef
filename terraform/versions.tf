terraform {
  required_version = ">= 1.8"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # Partial configuration (LLD 7.3): `cso` passes bucket, key, region and dynamodb_table
  # from the env file's state block with -backend-config. See README.md for the bootstrap.
  backend "s3" {}
}
