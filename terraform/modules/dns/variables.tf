variable "environment" {
  description = "Environment name (the Terraform workspace)."
  type        = string
}

variable "zone_name" {
  description = "Private hosted zone name, <environment>.<domain_suffix> (LLD 2.7.1), e.g. dev-ha.cso.ss."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.zone_name))
    error_message = "zone_name must be a lower-case DNS name such as dev-ha.cso.ss."
  }
}

variable "vpc_id" {
  description = "VPC the private zone is associated with."
  type        = string
}

variable "hosts" {
  description = "A record per host: host name => private IPv4 address (LLD 2.7.2)."
  type        = map(string)
}

variable "service_aliases" {
  description = "CNAMEs to hosts: alias => host name (api, portal, identity, mq)."
  type        = map(string)
}

variable "external_aliases" {
  description = "CNAMEs to names outside the zone: alias => target DNS name (mysql => the RDS endpoint, backend-lb => the internal ALB)."
  type        = map(string)
  default     = {}
}

variable "region" {
  description = "AWS region of the CloudWatch alarms the health checks follow."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region such as eu-west-2."
  }
}

variable "health_check_alarms" {
  description = "Route 53 health checks of type CLOUDWATCH_METRIC: name => CloudWatch alarm name in region (the target groups' no-healthy-host alarms; empty without ha)."
  type        = map(string)
  default     = {}
}

variable "ttl" {
  description = "TTL of every record, in seconds (LLD 2.7.2: 300)."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
