# Storage (LLD 2.5): the two EFS file systems with mount targets and access points, the
# environment's files bucket (<env>-cso-files-<account_id>) and the logs bucket of the load
# balancers (<env>-cso-logs-<account_id>).

locals {
  arn_prefix = "arn:${var.partition}"

  mount_targets = merge([
    for fs in keys(var.file_systems) : {
      for az, subnet_id in var.private_subnet_ids : "${fs}/${az}" => { file_system = fs, subnet_id = subnet_id }
    }
  ]...)

  # Elastic Load Balancing writes access logs as a regional AWS account in the regions that
  # existed before August 2022, and as a service principal in the newer ones.
  elb_log_accounts = {
    us-east-1    = "127311923021"
    us-east-2    = "033677994240"
    us-west-1    = "027434742980"
    us-west-2    = "797873946194"
    eu-west-1    = "156460612806"
    eu-west-2    = "652711504416"
    eu-west-3    = "009996457667"
    eu-central-1 = "054676820928"
    eu-north-1   = "897822967062"
  }
  elb_log_principal = contains(keys(local.elb_log_accounts), var.region) ? {
    AWS = "${local.arn_prefix}:iam::${local.elb_log_accounts[var.region]}:root"
    } : {
    Service = "logdelivery.elasticloadbalancing.amazonaws.com"
  }

  access_points = var.access_points

  # Role ARNs per access point. Several role names may share one ARN (one instance role for
  # every host): distinct() keeps the principal lists valid.
  ap_writers  = { for ap, a in local.access_points : ap => distinct([for r in a.writers : var.host_role_arns[r]]) }
  ap_mounters = { for ap, a in local.access_points : ap => distinct([for r in concat(a.writers, a.readers) : var.host_role_arns[r]]) }
  # Statement IDs are alphanumeric: ssl-certs -> SslCerts.
  sid = { for ap in keys(local.access_points) : ap => join("", [for w in split("-", ap) : title(w)]) }

  efs_client_actions = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"]

  # S3 bucket names are global across all AWS accounts: the account ID makes them ours.
  # The only place Terraform spells them (the outputs carry them on); Go's single spelling
  # is envfile.FilesBucket, and test/terraform checks that both agree for every env file.
  files_bucket = "${var.environment}-cso-files-${var.account_id}"
  logs_bucket  = "${var.environment}-cso-logs-${var.account_id}"
}

# ---------------------------------------------------------------------------------------
# EFS (LLD 2.5.1, 7.2)
# ---------------------------------------------------------------------------------------

resource "aws_efs_file_system" "this" {
  for_each = var.file_systems

  creation_token                  = "${var.environment}-${each.value.token_suffix}"
  encrypted                       = true
  kms_key_id                      = var.kms_key_arn
  performance_mode                = each.value.performance_mode
  throughput_mode                 = "provisioned"
  provisioned_throughput_in_mibps = each.value.throughput_mibps

  lifecycle_policy {
    transition_to_ia = each.value.transition_to_ia
  }

  tags = merge(var.tags, {
    Name   = "${var.environment}-${each.value.token_suffix}"
    Backup = "required"
  })
}

# Daily backups by AWS Backup's default plan, on top of the Backup tag of LLD 7.2.
resource "aws_efs_backup_policy" "this" {
  for_each = var.file_systems

  file_system_id = aws_efs_file_system.this[each.key].id

  backup_policy {
    status = "ENABLED"
  }
}

# Who may use which access point (issue #10): a host mounts with its role's credentials
# (amazon-efs-utils -o tls,iam), and EFS authorizes each NFS mount against this policy with
# the access point it came through in elasticfilesystem:AccessPointArn. A role may mount an
# access point it reads or writes, write only where it writes, and act as root on both (see
# docs/decisions/terraform.md: over NFS's AUTH_SYS a client's root can take any uid, so
# squashing root protects nothing; the access point a role can mount is the boundary).
# The deny statements keep that true whatever identity policies say: no mount but through
# this file system's access points, no use of an access point by a role not granted it,
# no write by a role that only reads, and nothing without TLS.
resource "aws_efs_file_system_policy" "this" {
  for_each = var.file_systems

  file_system_id = aws_efs_file_system.this[each.key].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      flatten([
        for ap, a in local.access_points : [
          {
            Sid       = "${local.sid[ap]}MountAndRootForItsRoles"
            Effect    = "Allow"
            Principal = { AWS = local.ap_mounters[ap] }
            Action    = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess"]
            Resource  = aws_efs_file_system.this[each.key].arn
            Condition = {
              StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this[ap].arn }
              Bool         = { "elasticfilesystem:AccessedViaMountTarget" = "true" }
            }
          },
          {
            Sid       = "${local.sid[ap]}WriteForItsWriters"
            Effect    = "Allow"
            Principal = { AWS = local.ap_writers[ap] }
            Action    = "elasticfilesystem:ClientWrite"
            Resource  = aws_efs_file_system.this[each.key].arn
            Condition = {
              StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this[ap].arn }
              Bool         = { "elasticfilesystem:AccessedViaMountTarget" = "true" }
            }
          },
          {
            Sid       = "${local.sid[ap]}DenyOtherRoles"
            Effect    = "Deny"
            Principal = { AWS = "*" }
            Action    = local.efs_client_actions
            Resource  = aws_efs_file_system.this[each.key].arn
            Condition = {
              StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this[ap].arn }
              ArnNotEquals = { "aws:PrincipalArn" = local.ap_mounters[ap] }
            }
          },
          {
            Sid       = "${local.sid[ap]}DenyWriteByReaders"
            Effect    = "Deny"
            Principal = { AWS = "*" }
            Action    = "elasticfilesystem:ClientWrite"
            Resource  = aws_efs_file_system.this[each.key].arn
            Condition = {
              StringEquals = { "elasticfilesystem:AccessPointArn" = aws_efs_access_point.this[ap].arn }
              ArnNotEquals = { "aws:PrincipalArn" = local.ap_writers[ap] }
            }
          },
        ] if a.file_system == each.key
      ]),
      [
        {
          # A missing key (a mount without an access point) satisfies StringNotEquals.
          Sid       = "DenyMountsOutsideItsAccessPoints"
          Effect    = "Deny"
          Principal = { AWS = "*" }
          Action    = local.efs_client_actions
          Resource  = aws_efs_file_system.this[each.key].arn
          Condition = {
            StringNotEquals = {
              "elasticfilesystem:AccessPointArn" = [for ap, a in local.access_points : aws_efs_access_point.this[ap].arn if a.file_system == each.key]
            }
          }
        },
        {
          Sid       = "DenyUnencryptedTransport"
          Effect    = "Deny"
          Principal = { AWS = "*" }
          Action    = "*"
          Resource  = aws_efs_file_system.this[each.key].arn
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ],
    )
  })
}

resource "aws_efs_mount_target" "this" {
  for_each = local.mount_targets

  file_system_id  = aws_efs_file_system.this[each.value.file_system].id
  subnet_id       = each.value.subnet_id
  security_groups = [var.efs_security_group_id]
}

# One access point per use (issue #10), each on its own root directory so that none
# reaches another's files: the packages and scripts (/scripts), the public certificates
# (/ssl-certs) and the Keystone fernet and credential key sets (/keystone-keys). The root
# directories are created for root; no POSIX user is forced (docs/decisions/terraform.md:
# the agents set owners and modes, and a forced user would hand every local account of a
# host the owner's rights).
resource "aws_efs_access_point" "this" {
  for_each = local.access_points

  file_system_id = aws_efs_file_system.this[each.value.file_system].id

  root_directory {
    path = each.value.root_directory

    creation_info {
      owner_uid   = 0
      owner_gid   = 0
      permissions = each.value.permissions
    }
  }

  tags = merge(var.tags, { Name = "${var.environment}-${each.key}" })
}

# ---------------------------------------------------------------------------------------
# Files bucket <env>-cso-files-<account_id> (LLD 2.5.2): the cso binary, installation packages
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "files" {
  bucket        = local.files_bucket
  force_destroy = !var.prod

  tags = merge(var.tags, { Name = local.files_bucket })
}

resource "aws_s3_bucket_ownership_controls" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "files" {
  bucket = aws_s3_bucket.files.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    bucket_key_enabled = true

    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
  }
}

resource "aws_s3_bucket_versioning" "files" {
  bucket = aws_s3_bucket.files.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "files" {
  bucket = aws_s3_bucket.files.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.files]
}

resource "aws_s3_bucket_logging" "files" {
  bucket        = aws_s3_bucket.files.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.files_bucket}/"

  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_policy" "files" {
  bucket = aws_s3_bucket.files.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.files.arn, "${aws_s3_bucket.files.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        # backups/ holds the Keystone key sets (cso backup): of the host roles only the jump
        # server, which takes the scheduled backups, may read or write it; the operators'
        # own principals are not host roles and keep their IAM rights.
        Sid       = "DenyBackupsToOtherHostRoles"
        Effect    = "Deny"
        Principal = "*"
        Action    = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
        Resource  = "${aws_s3_bucket.files.arn}/backups/*"
        Condition = { ArnEquals = { "aws:PrincipalArn" = sort([for r, arn in var.host_role_arns : arn if r != "jump"]) } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.files]
}

# ---------------------------------------------------------------------------------------
# Logs bucket <env>-cso-logs-<account_id>: ALB access logs (LLD 6.1) and the files bucket's access logs
# ---------------------------------------------------------------------------------------

#tfsec:ignore:aws-s3-enable-bucket-logging This is the log bucket itself; logging it into itself would loop.
resource "aws_s3_bucket" "logs" {
  bucket        = local.logs_bucket
  force_destroy = !var.prod

  tags = merge(var.tags, { Name = local.logs_bucket })
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

#tfsec:ignore:aws-s3-encryption-customer-key ALB access logs can only be delivered to buckets encrypted with SSE-S3 (AES256), not SSE-KMS.
resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "LoadBalancerAccessLogs"
        Effect    = "Allow"
        Principal = local.elb_log_principal
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/alb/*/AWSLogs/${var.account_id}/*"
      },
      {
        Sid       = "S3ServerAccessLogs"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/s3/*"
        Condition = {
          ArnLike      = { "aws:SourceArn" = aws_s3_bucket.files.arn }
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
