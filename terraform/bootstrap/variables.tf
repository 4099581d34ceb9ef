variable "env_file" {
  description = "An environment file whose state block names the bucket, lock table and region to create (environments share them)."
  type        = string

  validation {
    condition     = fileexists(var.env_file)
    error_message = "env_file must name an existing environment file, e.g. ../../environments/env.prod-ha.yaml."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days the state bucket keeps previous state versions (LLD 7.3: versioning is the state backup)."
  type        = number
  default     = 365
}

variable "state_principals" {
  description = "IAM principals (role or user ARNs of the env file's account; * and ? wildcards allowed, e.g. an SSO permission set's role) that deploy: the only ones the state bucket and its KMS key let read or write the state, which holds the CA private key, every host key and every generated password. Everyone else is denied; the account root keeps the key's administration (not its use) so that the key cannot be orphaned."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.state_principals) > 0
    error_message = "state_principals must name at least one deploying principal (e.g. arn:aws:iam::123456789012:role/cso-deploy): nobody else can read the state."
  }

  validation {
    condition     = alltrue([for p in var.state_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/*?-]+$", p))])
    error_message = "state_principals: each entry must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>); * and ? may stand for parts of the name."
  }
}
