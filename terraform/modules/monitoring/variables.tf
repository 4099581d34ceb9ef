variable "environment" {
  description = "Environment name (the Terraform workspace). Prefixes alarm and topic names."
  type        = string
}

variable "admin_email" {
  description = "Address subscribed to the alarm topic (env file admin_email). AWS sends a confirmation mail first."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.admin_email))
    error_message = "admin_email must be an e-mail address such as admin@company.com."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the SNS topic and the log groups (its policy lets CloudWatch alarms and CloudWatch Logs use it)."
  type        = string
}

variable "instances" {
  description = "Hosts to watch, keyed by host name: instance id and role."
  type = map(object({
    id   = string
    role = string
  }))
}

variable "rds" {
  description = "The RDS instance: identifier, initial allocated storage (GiB) and max_connections."
  type = object({
    identifier        = string
    allocated_storage = number
    max_connections   = number
  })
}

variable "file_systems" {
  description = "EFS file systems keyed by name: id and provisioned throughput (MiB/s)."
  type = map(object({
    id               = string
    throughput_mibps = number
  }))
}

variable "ha" {
  description = "When true the internet-facing ALB exists and its error rate is watched (load_balancer_arn_suffix must then be set)."
  type        = bool
}

variable "load_balancer_arn_suffix" {
  description = "arn_suffix of the internet-facing ALB (null unless ha): its 5XX rate is watched."
  type        = string
  default     = null
}

variable "target_groups" {
  description = "Target groups keyed by name (empty unless ha): arn_suffix and the arn_suffix of their load balancer."
  type = map(object({
    arn_suffix    = string
    lb_arn_suffix = string
  }))
  default = {}
}

variable "thresholds" {
  description = "Alert thresholds of LLD 9.5.2 (critical and warning) and 9.2.3 (RDS storage)."
  type = object({
    cpu_critical_percent               = optional(number, 90)
    cpu_critical_minutes               = optional(number, 5)
    cpu_warning_percent                = optional(number, 80)
    cpu_warning_minutes                = optional(number, 10)
    memory_critical_percent            = optional(number, 95)
    memory_critical_minutes            = optional(number, 5)
    memory_warning_percent             = optional(number, 85)
    memory_warning_minutes             = optional(number, 10)
    disk_critical_percent              = optional(number, 95)
    disk_warning_percent               = optional(number, 85)
    db_connections_critical_percent    = optional(number, 90)
    db_connections_warning_percent     = optional(number, 75)
    db_storage_used_critical_percent   = optional(number, 90)
    db_storage_used_warning_percent    = optional(number, 80)
    efs_io_limit_warning_percent       = optional(number, 80)
    efs_throughput_warning_percent     = optional(number, 80)
    request_error_rate_warning_percent = optional(number, 1)
  })
  default = {}
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the hosts' logs (env file logs.retention_days; default 30, 365 when prod)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}
