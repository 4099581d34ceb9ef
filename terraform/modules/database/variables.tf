variable "environment" {
  description = "Environment name (the Terraform workspace). The instance is <environment>-db."
  type        = string
}

variable "prod" {
  description = "Production (LLD 2.6.1, 7.1): 30-day backups, deletion protection, a final snapshot."
  type        = bool
}

variable "ha" {
  description = "Multi-AZ standby when true (LLD 2.6.1)."
  type        = bool
}

variable "engine_version" {
  description = "RDS MySQL major version (8.4, the LTS line; 8.0 leaves standard support on 31 July 2026). Major only: RDS picks and upgrades the minor version (auto_minor_version_upgrade), engine_version_actual reports it (docs/decisions/terraform.md)."
  type        = string
  default     = "8.4"

  validation {
    condition     = can(regex("^8\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a MySQL major version such as 8.4: with auto_minor_version_upgrade RDS moves the minor version (8.4.7 to 8.4.8), and a pinned 8.4.7 would make the next apply try a downgrade."
  }
}

variable "instance_class" {
  description = "DB instance class. Default by prod: db.m6i.4xlarge (the LLD's db.c5.4xlarge does not exist on RDS) or db.t3.2xlarge."
  type        = string
  default     = null

  validation {
    condition     = var.instance_class == null || can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.<family>.<size>, e.g. db.m6i.4xlarge."
  }
}

variable "allocated_storage" {
  description = "Initial gp3 storage in GiB (LLD 2.6.1: 50)."
  type        = number
  default     = 50

  validation {
    condition     = var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be between 20 and 65536 GiB."
  }
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (LLD 2.6.1, 9.4.2: 1000)."
  type        = number
  default     = 1000
}

variable "max_connections" {
  description = "MySQL max_connections, set explicitly so the 90%/75% connection alarms (LLD 9.5.2) have a fixed base."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_connections >= 10 && var.max_connections <= 16000
    error_message = "max_connections must be between 10 and 16000."
  }
}

variable "backup_window" {
  description = "Daily backup window, UTC (LLD 7.1)."
  type        = string
  default     = "03:00-04:00"
}

variable "maintenance_window" {
  description = "Weekly maintenance window, UTC (LLD 7.1)."
  type        = string
  default     = "sun:04:00-sun:05:00"
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the instance (3306 from the core servers)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights, the managed master secret and the users' secrets."
  type        = string
}

variable "hostname" {
  description = "Name clients use for the database (the dns module's mysql CNAME), written into the users' secrets."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "partition" {
  description = "AWS partition of the ARNs."
  type        = string
  default     = "aws"
}
