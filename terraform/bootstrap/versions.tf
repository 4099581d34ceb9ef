terraform {
  required_version = ">= 1.8"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # The state bucket cannot hold its own bootstrap state: this stack keeps a local state
  # (terraform.tfstate here). Commit nothing of it; it only holds the bucket and table.
}
