terraform {
  required_providers {
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
  }
  backend "s3" {
    bucket = "never-used"
    key    = "harness.tfstate"
    region = "eu-west-2"
  }
}

provider "aws" {
  region = "eu-west-2"
}

variable "name" {
  type = string
}

variable "length" {
  type    = number
  default = 8
}

resource "random_string" "suffix" {
  length  = var.length
  special = false
  upper   = false
}

resource "aws_s3_bucket" "logs" {
  bucket = "${var.name}-${terraform.workspace}-${random_string.suffix.result}"
}

output "bucket" {
  value = aws_s3_bucket.logs.bucket
}

output "bucket_arn" {
  value = aws_s3_bucket.logs.arn
}
