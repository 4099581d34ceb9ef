# Bootstrap of the Terraform state backend (LLD 7.3): the versioned S3 bucket and the
# DynamoDB lock table that every environment's state uses. Run once per account/region.

locals {
  env   = yamldecode(file(var.env_file))
  state = local.env.state
  # Quoted or not in YAML, always 12 digits.
  account_id = format("%012d", local.env.account_id)
  # S3 bucket names are global across all AWS accounts: without state.bucket the name
  # carries the account and region (envfile.DefaultStateBucket in Go spells the same).
  state_bucket = coalesce(try(local.state.bucket, null), "cso-terraform-state-${local.account_id}-${local.state.region}")

  partition = data.aws_partition.current.partition
  root_arn  = "arn:${local.partition}:iam::${local.account_id}:root"

  # The principal applying this stack, as aws:PrincipalArn names it: an assumed role's
  # session (arn:aws:sts::<account>:assumed-role/<name>/<session>) is its role, whose path
  # the session ARN does not tell.
  caller      = data.aws_caller_identity.current.arn
  caller_role = try(regex("^arn:[^:]+:sts::[0-9]+:assumed-role/([^/]+)/", local.caller)[0], null)
  # state_principals as regular expressions (their * and ? are globs).
  principal_res = [for p in var.state_principals : "^${replace(replace(replace(replace(p, ".", "\\."), "+", "\\+"), "*", ".*"), "?", ".")}$"]
  caller_listed = anytrue([
    for i, p in var.state_principals : local.caller_role == null ? can(regex(local.principal_res[i], local.caller)) : (
      can(regex(local.principal_res[i], "arn:${local.partition}:iam::${local.account_id}:role/${local.caller_role}")) || endswith(p, "/${local.caller_role}")
    )
  ])
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Applying this stack as a principal that state_principals does not name would lock that
# principal out of the bucket it manages (the account root could still repair the policy).
check "applier_is_a_state_principal" {
  assert {
    condition     = local.caller_listed
    error_message = "The principal applying this stack (${local.caller}) is not among state_principals: after this apply it can no longer read the state bucket. Add it, or apply as one of them."
  }
}

provider "aws" {
  region              = local.state.region
  allowed_account_ids = [local.account_id]

  default_tags {
    tags = {
      Project   = "cso-ssp"
      ManagedBy = "terraform"
      Purpose   = "terraform-state"
    }
  }
}

# Only the deploying principals use the key (the state's objects and the lock table are
# encrypted with it). The account root administers it, and may not use it: that statement
# is what keeps the key manageable (KMS refuses a policy that would lock it out) and, as the
# account's administrators can rewrite the key policy, recovery is an audited policy change,
# never a silent read.
resource "aws_kms_key" "state" {
  description             = "CSO Terraform state bucket and lock table"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountRootAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = local.root_arn }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
          "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
          "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
        ]
        Resource = "*"
      },
      {
        Sid       = "StatePrincipalsUseTheKey"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          ArnLike      = { "aws:PrincipalArn" = var.state_principals }
          StringEquals = { "aws:PrincipalAccount" = local.account_id }
        }
      },
      {
        # DynamoDB encrypts the lock table with the key through a grant it creates on the
        # caller's behalf.
        Sid       = "StatePrincipalsLetDynamoDBUseTheKey"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = {
          ArnLike      = { "aws:PrincipalArn" = var.state_principals }
          StringEquals = { "aws:PrincipalAccount" = local.account_id }
          Bool         = { "kms:GrantIsForAWSResource" = "true" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/cso-terraform-state"
  target_key_id = aws_kms_key.state.key_id
}

#tfsec:ignore:aws-s3-enable-bucket-logging Access to the state bucket is audited by CloudTrail data events of the account, not by a second bucket that would need its own bootstrap.
resource "aws_s3_bucket" "state" {
  bucket = local.state_bucket

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

# The state holds the CA private key, every host key and every generated password: only
# the deploying principals may touch the bucket. The deny names everyone else (IAM
# identity policies cannot reopen it); the account root is denied too, but S3 always lets
# the bucket owner's root read, replace or delete the bucket policy, so a lost principal
# can be repaired.
resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "StatePrincipalsReadAndWriteTheState"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
        Condition = {
          ArnLike      = { "aws:PrincipalArn" = var.state_principals }
          StringEquals = { "aws:PrincipalAccount" = local.account_id }
        }
      },
      {
        Sid       = "DenyEveryoneElse"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
        Condition = { ArnNotLike = { "aws:PrincipalArn" = var.state_principals } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  lifecycle {
    precondition {
      condition     = alltrue([for p in var.state_principals : split(":", p)[4] == local.account_id])
      error_message = "state_principals must belong to the env file's account ${local.account_id}."
    }
  }

  depends_on = [aws_s3_bucket_public_access_block.state]
}

# Terraform 1.8's S3 backend locks with DynamoDB (hash key LockID).
resource "aws_dynamodb_table" "locks" {
  name                        = local.state.dynamodb_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.state.arn
  }

  lifecycle {
    prevent_destroy = true
  }
}
