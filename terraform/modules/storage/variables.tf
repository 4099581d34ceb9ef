variable "environment" {
  description = "Environment name (the Terraform workspace). Prefixes every name; the files bucket is <environment>-cso-files-<account_id>."
  type        = string
}

variable "prod" {
  description = "Production: buckets are not force-destroyed with their objects."
  type        = bool
}

variable "account_id" {
  description = "AWS account ID: the load balancers write their logs under AWSLogs/<account_id>/."
  type        = string
}

variable "region" {
  description = "AWS region: picks the Elastic Load Balancing log-delivery principal."
  type        = string
}

variable "partition" {
  description = "AWS partition of the ARNs."
  type        = string
  default     = "aws"
}

variable "private_subnet_ids" {
  description = "Private subnets by availability zone: one EFS mount target each (LLD 2.5.1)."
  type        = map(string)
}

variable "efs_security_group_id" {
  description = "Security group of the EFS mount targets (NFS 2049 from the core servers and the jump server)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the file systems and the files bucket."
  type        = string
}

variable "file_systems" {
  description = "The EFS file systems of LLD 2.5.1 by key: creation token suffix, provisioned throughput (MiB/s), the access point's root directory and permissions, and where hosts mount it."
  type = map(object({
    token_suffix     = string
    throughput_mibps = number
    root_directory   = string
    permissions      = string
    mount_path       = string
    performance_mode = optional(string, "generalPurpose")
    transition_to_ia = optional(string, "AFTER_30_DAYS")
  }))
  default = {
    scripts = {
      token_suffix     = "efs"
      throughput_mibps = 100
      root_directory   = "/scripts"
      permissions      = "0755"
      mount_path       = "/opt/scripts"
    }
    ssl-certs = {
      token_suffix     = "ssl-certs"
      throughput_mibps = 50
      root_directory   = "/ssl-certs"
      permissions      = "0755"
      mount_path       = "/opt/ssl-certs"
    }
  }

  validation {
    condition     = alltrue([for f in values(var.file_systems) : f.throughput_mibps >= 1 && f.throughput_mibps <= 3414])
    error_message = "file_systems throughput_mibps must be between 1 and 3414 MiB/s (EFS provisioned throughput)."
  }
}

variable "host_role_arns" {
  description = "ARNs of the hosts' instance roles, keyed by host role (security module host_role_arns): the only principals that may mount the file systems (as root, through a mount target)."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Days the logs bucket keeps load balancer and S3 access logs."
  type        = number
  default     = 365
}

variable "noncurrent_version_retention_days" {
  description = "Days the files bucket keeps non-current object versions."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
