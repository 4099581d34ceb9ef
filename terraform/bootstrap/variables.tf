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
