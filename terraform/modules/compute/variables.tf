variable "environment" {
  description = "Environment name (the Terraform workspace), passed to cso agent --env."
  type        = string
}

variable "account_id" {
  description = "AWS account ID of the environment, passed to cso agent --account-id (it names the bucket the agent reads its env file from)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "region" {
  description = "AWS region, for the AWS CLI in user data."
  type        = string
}

variable "hosts" {
  description = "Instances keyed by host name (jump-server-1, frontend-server-N, backend-server-N, keystoneNN, rabbitmq-server-N): role, index, instance type, availability zone and FQDN."
  type = map(object({
    role              = string
    index             = number
    instance_type     = string
    availability_zone = string
    fqdn              = string
  }))

  validation {
    condition     = alltrue([for h in values(var.hosts) : contains(["jump", "frontend", "backend", "keystone", "rabbitmq"], h.role)])
    error_message = "Every host role must be one of jump, frontend, backend, keystone, rabbitmq."
  }

  validation {
    condition     = length([for h in values(var.hosts) : h if h.role == "jump"]) == 1
    error_message = "There must be exactly one jump server."
  }
}

variable "subnet_ids" {
  description = "Private subnet ID by availability zone; each host goes into the subnet of its zone."
  type        = map(string)
}

variable "security_group_ids" {
  description = "Security group IDs by key from the security module; each host gets core plus its role's group."
  type        = map(string)
}

variable "instance_profile_names" {
  description = "Instance profile of each host role (security module), keyed jump, keystone, rabbitmq, frontend, backend: each host gets its role's."
  type        = map(string)

  validation {
    condition     = alltrue([for r in ["jump", "frontend", "backend", "keystone", "rabbitmq"] : contains(keys(var.instance_profile_names), r)])
    error_message = "instance_profile_names must name a profile for each of jump, frontend, backend, keystone, rabbitmq."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the root volumes."
  type        = string
}

variable "root_volume_size" {
  description = "Root volume size in GiB (LLD 2.4.1: 50 GB gp3)."
  type        = number
  default     = 50

  validation {
    condition     = var.root_volume_size >= 30 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 30 (the AL2023 image) and 16384 GiB."
  }
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter naming the Amazon Linux 2023 image. An instance keeps its image until it is replaced."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "access_points" {
  description = "EFS access points (storage module output): file_system_id, id, mount_path, and the host roles that mount it read-write (writers) or read-only (readers). A host mounts those of its role."
  type = map(object({
    id             = string
    file_system_id = string
    mount_path     = string
    writers        = list(string)
    readers        = list(string)
  }))
}

variable "files_bucket" {
  description = "Name of the environment's bucket holding the cso binary."
  type        = string
}

variable "database_master_secret_arn" {
  description = "ARN of the RDS-managed master user secret; the jump server's agent reads it (through its IAM role) to create the databases and their users. Not a secret itself."
  type        = string
  default     = null
}

variable "cso_binary_key" {
  description = "Object key of the cso binary in files_bucket."
  type        = string
  default     = "bin/cso"
}

variable "target_groups" {
  description = "Target groups from the networking module (empty unless ha), keyed frontend, keystone, jump, be-<service>: arn and port. Hosts of the matching role are attached."
  type = map(object({
    arn  = string
    port = number
  }))
  default = {}
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
