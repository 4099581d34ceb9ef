variable "env_file" {
  description = "Path of the environment file. Empty means ../environments/env.<workspace>.yaml next to this stack."
  type        = string
  default     = ""
}
