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
  description = "The EFS file systems of LLD 2.5.1 by key: creation token suffix, provisioned throughput (MiB/s), performance mode and transition to IA. What hosts mount of them is in access_points."
  type = map(object({
    token_suffix     = string
    throughput_mibps = number
    performance_mode = optional(string, "generalPurpose")
    transition_to_ia = optional(string, "AFTER_30_DAYS")
  }))
  default = {
    scripts = {
      token_suffix     = "efs"
      throughput_mibps = 100
    }
    ssl-certs = {
      token_suffix     = "ssl-certs"
      throughput_mibps = 50
    }
  }

  validation {
    condition     = alltrue([for f in values(var.file_systems) : f.throughput_mibps >= 1 && f.throughput_mibps <= 3414])
    error_message = "file_systems throughput_mibps must be between 1 and 3414 MiB/s (EFS provisioned throughput)."
  }
}

variable "access_points" {
  description = "EFS access points by use: the file system (a key of file_systems), the root directory and the permissions it is created with, where hosts mount it, and the host roles that mount it read-write (writers) or read-only (readers). The file system policy grants each role exactly these."
  type = map(object({
    file_system    = string
    root_directory = string
    permissions    = string
    mount_path     = string
    writers        = list(string)
    readers        = list(string)
  }))
  default = {
    # The application packages (packages/) and the environment's scripts and target.json,
    # which the jump server copies from the files bucket (LLD 5.3).
    scripts = {
      file_system    = "scripts"
      root_directory = "/scripts"
      permissions    = "0755"
      mount_path     = "/opt/scripts"
      writers        = ["jump"]
      readers        = ["keystone", "rabbitmq", "frontend", "backend"]
    }
    # The public half of the PKI: the CA certificate and the hosts' certificates.
    ssl-certs = {
      file_system    = "ssl-certs"
      root_directory = "/ssl-certs"
      permissions    = "0755"
      mount_path     = "/opt/ssl-certs"
      writers        = ["jump"]
      readers        = ["keystone", "rabbitmq", "frontend", "backend"]
    }
    # The Keystone fernet and credential key sets (enough to forge any token, or read any
    # stored credential).
    keystone-keys = {
      file_system    = "ssl-certs"
      root_directory = "/keystone-keys"
      permissions    = "0700"
      mount_path     = "/opt/keystone-keys"
      writers        = ["jump", "keystone"]
      readers        = []
    }
  }

  validation {
    condition     = alltrue([for a in values(var.access_points) : length(setsubtract(concat(a.writers, a.readers), ["jump", "keystone", "rabbitmq", "frontend", "backend"])) == 0])
    error_message = "access_points writers and readers must be host roles: jump, keystone, rabbitmq, frontend, backend."
  }

  validation {
    condition     = alltrue([for a in values(var.access_points) : length(setintersection(a.writers, a.readers)) == 0 && length(concat(a.writers, a.readers)) > 0])
    error_message = "access_points: a role is either a writer or a reader of an access point, and every access point has at least one."
  }

  validation {
    condition     = alltrue([for a in values(var.access_points) : startswith(a.root_directory, "/") && a.root_directory != "/" && startswith(a.mount_path, "/")])
    error_message = "access_points root_directory must be an absolute path other than / (the file system root stays root-owned) and mount_path absolute."
  }
}

variable "host_role_arns" {
  description = "Instance role ARN of each host role (jump, keystone, rabbitmq, frontend, backend): the only principals the file system policies let mount, each through its role's access points."
  type        = map(string)

  validation {
    condition     = length(setsubtract(["jump", "keystone", "rabbitmq", "frontend", "backend"], keys(var.host_role_arns))) == 0 && length(var.host_role_arns) == 5
    error_message = "host_role_arns must have exactly the keys jump, keystone, rabbitmq, frontend and backend."
  }
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
