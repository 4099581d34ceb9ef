output "file_systems" {
  description = "EFS file systems by key (scripts, ssl-certs): id, arn, dns_name, throughput_mibps."
  value = {
    for k, fs in aws_efs_file_system.this : k => {
      id               = fs.id
      arn              = fs.arn
      dns_name         = fs.dns_name
      throughput_mibps = var.file_systems[k].throughput_mibps
    }
  }
}

output "access_points" {
  description = "EFS access points by use (scripts, ssl-certs, keystone-keys): id, arn, file_system_id, mount_path, and the host roles that mount it read-write (writers) or read-only (readers). Available once the mount targets exist and the file system policies grant them."
  value = {
    for k, ap in aws_efs_access_point.this : k => {
      id             = ap.id
      arn            = ap.arn
      file_system_id = ap.file_system_id
      mount_path     = var.access_points[k].mount_path
      writers        = var.access_points[k].writers
      readers        = var.access_points[k].readers
    }
  }
  # Hosts mount these at boot: hand them over once the mount targets exist and the policy
  # lets the roles in (hosts other than the jump server no longer wait for RDS, which used
  # to cover this).
  depends_on = [aws_efs_mount_target.this, aws_efs_file_system_policy.this]
}

output "mount_target_ids" {
  description = "EFS mount target IDs keyed <file system>/<availability zone>."
  value       = { for k, mt in aws_efs_mount_target.this : k => mt.id }
}

output "files_bucket" {
  description = "The environment's files bucket <env>-cso-files-<account_id>: id (name) and arn."
  value       = { id = aws_s3_bucket.files.id, arn = aws_s3_bucket.files.arn }
}

output "logs_bucket" {
  description = "The logs bucket (ALB and S3 access logs): id (name) and arn. Available once its policy lets the load balancers write."
  value       = { id = aws_s3_bucket.logs.id, arn = aws_s3_bucket.logs.arn }
  depends_on  = [aws_s3_bucket_policy.logs]
}
