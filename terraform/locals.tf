# The environment file is the single source of truth (docs/environments.md); the workspace
# name is the environment name.

locals {
  environment = terraform.workspace
  # The default workspace is no environment: plan and apply stop at the precondition of
  # output "environment". Static tools (tflint, validate) evaluate it with dev's file.
  env_file = var.env_file != "" ? var.env_file : "${path.module}/../environments/env.${terraform.workspace == "default" ? "dev" : terraform.workspace}.yaml"
  env      = yamldecode(file(local.env_file))

  prod      = local.env.prod
  ha        = local.env.ha
  partition = "aws"
  # Quoted or not in YAML, always 12 digits.
  account_id = format("%012d", local.env.account_id)
  zone_name  = "${local.environment}.${local.env.domain_suffix}"
  # Days CloudWatch Logs keeps the hosts' logs; defaults as internal/envfile (30, 365 when prod).
  log_retention_days = coalesce(try(local.env.logs.retention_days, null), local.prod ? 365 : 30)

  tags = {
    Environment = local.environment
    Project     = "cso-ssp"
    ManagedBy   = "terraform"
  }

  # Hosts per role: 1 each, or with ha 2 frontends, 2 backends, 2 Keystones and 3 RabbitMQ
  # nodes (a quorum queue stays writable with one node lost only from 3 nodes on).
  default_counts = local.ha ? { frontend = 2, backend = 2, keystone = 2, rabbitmq = 3 } : { frontend = 1, backend = 1, keystone = 1, rabbitmq = 1 }
  counts         = { for role, n in local.default_counts : role => coalesce(try(local.env.counts[role], null), n) }

  # LLD 2.4.1 sizing tables; instance_types in the env file override per role.
  sizing = {
    prod = { frontend = "c5.2xlarge", backend = "c5.4xlarge", keystone = "t2.xlarge", rabbitmq = "t2.xlarge", jump = "t2.large" }
    dev  = { frontend = "t2.xlarge", backend = "t2.2xlarge", keystone = "t2.medium", rabbitmq = "t2.xlarge", jump = "t2.large" }
  }
  instance_types = { for role, t in local.sizing[local.prod ? "prod" : "dev"] : role => coalesce(try(local.env.instance_types[role], null), t) }

  # Host names of docs/environments.md; N counts from 1, Keystone has two digits.
  role_hosts = {
    jump     = { "jump-server-1" = 1 }
    frontend = { for i in range(1, local.counts.frontend + 1) : "frontend-server-${i}" => i }
    backend  = { for i in range(1, local.counts.backend + 1) : "backend-server-${i}" => i }
    keystone = { for i in range(1, local.counts.keystone + 1) : format("keystone%02d", i) => i }
    rabbitmq = { for i in range(1, local.counts.rabbitmq + 1) : "rabbitmq-server-${i}" => i }
  }

  # Service aliases (LLD 2.7.2) point at the first host of a role; every host of that role
  # carries the alias in its certificate, so the alias can move without new certificates.
  role_alias      = { backend = "api", frontend = "portal", keystone = "identity", rabbitmq = "mq" }
  service_aliases = { api = "backend-server-1", portal = "frontend-server-1", identity = "keystone01", mq = "rabbitmq-server-1" }

  hosts = merge([
    for role, names in local.role_hosts : {
      for name, i in names : name => {
        role          = role
        index         = i
        instance_type = local.instance_types[role]
        # Alternate the zones: index 1 in availability_zones[0], index 2 in [1], ...
        availability_zone = local.env.availability_zones[(i - 1) % 2]
        fqdn              = "${name}.${local.zone_name}"
        # The same names as the local PKI's host certificates (internal/pki): localhost
        # lets a daemon's own clients on the host (RabbitMQ's CLI tools and TLS
        # distribution over loopback) verify it by that name.
        dns_names = concat(
          ["${name}.${local.zone_name}", name, "localhost"],
          contains(keys(local.role_alias), role) ? ["${local.role_alias[role]}.${local.zone_name}"] : []
        )
      }
    }
  ]...)
}
