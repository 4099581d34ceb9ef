variable "environment" {
  description = "Environment name (the Terraform workspace). Prefixes every name."
  type        = string
}

variable "region" {
  description = "AWS region, for ARNs and the CloudWatch Logs service principal in the key policy."
  type        = string
}

variable "account_id" {
  description = "AWS account ID of the environment, for the key policy and ARNs."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be the 12-digit AWS account ID."
  }
}

variable "partition" {
  description = "AWS partition of the ARNs."
  type        = string
  default     = "aws"
}

variable "vpc_id" {
  description = "VPC of the security groups."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC CIDR: source of the endpoint rule and destination of the hosts' internal egress."
  type        = string
}

variable "ha" {
  description = "When true the ALB security groups and the rules that name them exist."
  type        = bool
}

variable "prod" {
  description = "Production: longer KMS key and secret recovery windows."
  type        = bool
}

variable "backend_ports" {
  description = "Backend port range of the security-group matrix (LLD 2.3.1: 8080-8105)."
  type = object({
    from = number
    to   = number
  })
  default = { from = 8080, to = 8105 }
}

variable "backend_service_ports" {
  description = "Port range of the backend services behind the internal ALB (LLD 3.2.1: 8090-8105)."
  type = object({
    from = number
    to   = number
  })
  default = { from = 8090, to = 8105 }
}

variable "jump_server_access_cidrs" {
  description = "Networks (VPN, peering) that reach the jump server's admin UI 8081 directly, not through the ALB."
  type        = list(string)

  validation {
    condition     = length(var.jump_server_access_cidrs) >= 1 && length(var.jump_server_access_cidrs) <= 20 && alltrue([for c in var.jump_server_access_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "jump_server_access_cidrs must list 1 to 20 IPv4 CIDRs, none of them /0, e.g. [10.0.0.0/8]."
  }
}

variable "hosts" {
  description = "Hosts that get a server certificate: host name => fqdn and the DNS names (SANs) of its certificate."
  type = map(object({
    fqdn      = string
    dns_names = list(string)
  }))
}

variable "certificate_validity_hours" {
  description = "Validity of the host certificates (about a year). Terraform renews them in the last early_renewal_hours."
  type        = number
  default     = 8760
}

variable "certificate_early_renewal_hours" {
  description = "A host certificate is re-issued by the first apply in its last this many hours."
  type        = number
  default     = 720
}

variable "cso_files_bucket_arn" {
  description = "ARN of the environment's <env>-cso-files-<account_id> bucket, readable by the hosts."
  type        = string
}

variable "db_instance_arn" {
  description = "ARN of the RDS instance: hosts may read the master user secret RDS manages for it (tagged aws:rds:primaryDBInstanceArn)."
  type        = string
}

variable "host_log_group_arns" {
  description = "Log groups the hosts' CloudWatch agent writes to (module monitoring); the host policy allows streams and events in these only."
  type        = list(string)
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}

variable "database_user_secret_arns" {
  description = "ARNs of the database users' secrets (module database), keyed keystone, cso_portal: <env>/cso/database/<key>. The roles of local.secret_readers may read them."
  type        = map(string)
  default     = {}
}

variable "instances" {
  description = "The hosts' instances (module compute): host name => role and instance id. Each host may read its own TLS secret and write its own status document, and no other host of its role may."
  type = map(object({
    role = string
    id   = string
  }))
  default = {}
}
