variable "environment" {
  description = "Environment name (the Terraform workspace), e.g. dev-ha. Prefixes every name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 characters of lower-case letters, digits and '-', starting with a letter (it prefixes load balancer and target group names, which AWS limits to 32 characters)."
  }
}

variable "vpc_name" {
  description = "VPC name; the Name tag is <environment>-<vpc_name> (LLD 2.2.1)."
  type        = string
}

variable "vpc_cidr" {
  description = "VPC IPv4 CIDR: an RFC 1918 range with a prefix from /16 to /24 (the subnet plan needs /26 subnets at least)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix from /16 to /24, e.g. 10.1.0.0/16 or 10.0.0.0/24."
  }

  validation {
    condition = try(
      cidrsubnet(var.vpc_cidr, 0, 0) == var.vpc_cidr &&
      anytrue([
        for r in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] :
        cidrhost(r, 0) == cidrhost("${cidrhost(var.vpc_cidr, 0)}/${split("/", r)[1]}", 0)
      ]),
      false
    )
    error_message = "vpc_cidr must be a private (RFC 1918) network address: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, with no host bits set (10.1.0.0/16, not 10.1.2.3/16)."
  }
}

variable "availability_zones" {
  description = "Exactly two availability zones of the region; element 0 gets the first public and private subnet."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "availability_zones must list exactly two different zones, e.g. [eu-west-2a, eu-west-2c]."
  }
}

variable "region" {
  description = "AWS region of the VPC, used for the VPC endpoint service names."
  type        = string
}

variable "ha" {
  description = "When true the internet-facing ALB and the internal backend ALB with their target groups and listeners are created (LLD 2.2.3, 3.2.2)."
  type        = bool
}

variable "prod" {
  description = "Production: the load balancers get deletion protection."
  type        = bool
}

variable "security_group_ids" {
  description = "Security groups from the security module: endpoints (always), alb and backend_alb (null unless ha)."
  type = object({
    endpoints   = string
    alb         = optional(string)
    backend_alb = optional(string)
  })
}

variable "load_balancer" {
  description = "Internet-facing ALB settings from the env file's load_balancer key (required when ha): ACM certificate and Cognito user pool."
  type = object({
    certificate_arn = string
    cognito = object({
      user_pool_arn       = string
      user_pool_client_id = string
      user_pool_domain    = string
    })
  })
  default = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener. The LLD's ELBSecurityPolicy-TLS-1-2-2017-01 has no TLS 1.3; this is the policy AWS recommends now."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
}

variable "admin_group" {
  description = "Cognito group (created in the ALB's user pool) whose members may use the jump server's admin dashboard through the ALB."
  type        = string
  default     = "cso-admins"
}

variable "backend_services" {
  description = "Backend services behind the internal ALB (LLD 3.2.1): name => port and health check path. One listener and target group each."
  type = map(object({
    port              = number
    health_check_path = optional(string, "/health")
  }))
  default = {
    apidoc      = { port = 8098 }
    blobstore   = { port = 8091 }
    catalog     = { port = 8093 }
    config      = { port = 8103 }
    customers   = { port = 8090 }
    event       = { port = 8092 }
    export      = { port = 8105 }
    fulfillment = { port = 8097 }
    pricing     = { port = 8100 }
    reporting   = { port = 8099 }
    request     = { port = 8096 }
    svcinst     = { port = 8094 }
    ticketing   = { port = 8101 }
  }

  validation {
    condition     = alltrue([for s in values(var.backend_services) : s.port >= 8080 && s.port <= 8105])
    error_message = "backend_services ports must lie in 8080-8105, the backend range of the security-group matrix (LLD 2.3.1)."
  }
}

variable "logs_bucket" {
  description = "S3 bucket receiving the load balancers' access logs (storage module)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the VPC flow log group."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (the provider's default_tags come on top)."
  type        = map(string)
  default     = {}
}
