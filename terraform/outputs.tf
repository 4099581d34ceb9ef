output "environment" {
  description = "Environment name (the workspace) and the file it was read from."
  value       = { name = local.environment, env_file = abspath(local.env_file), prod = local.prod, ha = local.ha }

  precondition {
    condition     = terraform.workspace != "default"
    error_message = "The default workspace is not an environment: run `terraform workspace select <env>` (dev, dev-ha, staging, prod-ha, ...) or let `cso` do it."
  }

  precondition {
    condition     = local.counts.keystone >= 1 && local.counts.keystone <= 5 && local.counts.rabbitmq >= 1 && local.counts.rabbitmq <= 5
    error_message = "counts.keystone and counts.rabbitmq must be between 1 and 5 (LLD 9.7.3); the env file asks for ${local.counts.keystone} and ${local.counts.rabbitmq}."
  }

  precondition {
    condition     = !local.ha || local.counts.rabbitmq % 2 == 1
    error_message = "With ha, counts.rabbitmq must be odd (3 or 5): quorum queues need a majority of the nodes; the env file asks for ${local.counts.rabbitmq}."
  }

  precondition {
    condition     = local.counts.frontend >= 1 && local.counts.frontend <= 10 && local.counts.backend >= 1 && local.counts.backend <= 10
    error_message = "counts.frontend and counts.backend must be between 1 and 10 (LLD 9.7.3)."
  }

  precondition {
    condition     = !local.ha || can(local.env.load_balancer.certificate_arn) && can(local.env.load_balancer.cognito.user_pool_arn)
    error_message = "ha is true but the env file has no load_balancer.certificate_arn / load_balancer.cognito: the internet-facing ALB needs both (docs/environments.md)."
  }
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.networking.vpc_id
}

output "subnets" {
  description = "Subnets by tier (public, private) and availability zone: id and cidr_block."
  value = {
    public  = module.networking.public_subnets
    private = module.networking.private_subnets
  }
}

output "hosts" {
  description = "Hosts by name: role, index, private_ip, fqdn, instance_type, instance id and availability zone."
  value = {
    for name, i in module.compute.instances : name => {
      role              = i.role
      index             = i.index
      private_ip        = i.private_ip
      fqdn              = i.fqdn
      instance_type     = i.instance_type
      instance_id       = i.id
      availability_zone = i.availability_zone
    }
  }
}

output "load_balancers" {
  description = "DNS names of the internet-facing and internal backend ALBs (null without ha)."
  value = {
    frontend = local.ha ? module.networking.frontend_alb.dns_name : null
    backend  = local.ha ? module.networking.backend_alb.dns_name : null
  }
}

output "admin_dashboard" {
  description = "Behind the internet-facing ALB (null without ha): the ALB ARN and region, the Cognito user pool id and region, app client id and administrators' group that `cso admin serve` on the jump server verifies (cso deploy puts them in target.json)."
  value       = module.networking.admin_dashboard
}

output "buckets" {
  description = "Names of the files bucket (<env>-cso-files-<account_id>, holds bin/cso) and the logs bucket."
  value = {
    files = module.storage.files_bucket.id
    logs  = module.storage.logs_bucket.id
  }
}

output "file_systems" {
  description = "EFS file systems (scripts, ssl-certs): id."
  value       = { for k, fs in module.storage.file_systems : k => { id = fs.id } }
}

output "access_points" {
  description = "EFS access points by use (scripts, ssl-certs, keystone-keys): id, file system id, mount path, and the host roles that mount it read-write (writers) or read-only (readers)."
  value = { for k, ap in module.storage.access_points : k => {
    id = ap.id, file_system_id = ap.file_system_id, mount_path = ap.mount_path, writers = ap.writers, readers = ap.readers
  } }
}

output "database" {
  description = "RDS endpoint (host:port), address, the name clients use, the identifier and the MySQL version RDS runs."
  value = {
    endpoint       = module.database.endpoint
    address        = module.database.address
    hostname       = "mysql.${local.zone_name}"
    identifier     = module.database.identifier
    engine_version = module.database.engine_version_actual
  }
}

output "secret_arns" {
  description = "Secrets Manager ARNs (never values): service secrets, database users, the RDS master user, host TLS and the root CA."
  value = {
    service         = module.security.service_secret_arns
    database_users  = module.database.user_secret_arns
    database_master = module.database.master_user_secret_arn
    host_tls        = module.security.host_tls_secret_arns
    root_ca         = module.security.root_ca_secret_arn
  }
}

output "root_ca_certificate_pem" {
  description = "Public root CA certificate (PEM) every client of the environment trusts."
  value       = module.security.root_ca_certificate_pem
}

output "dns" {
  description = "Private zone id and name, the FQDNs of the service aliases, and the Route 53 health check IDs by target group."
  value = {
    zone_id       = module.dns.zone_id
    zone_name     = module.dns.zone_name
    aliases       = module.dns.alias_fqdns
    health_checks = module.dns.health_check_ids
  }
}

output "zone_id" {
  description = "ID of the environment's private hosted zone."
  value       = module.dns.zone_id
}

output "kms_key_arn" {
  description = "ARN of the environment's KMS key."
  value       = module.security.kms_key_arn
}

output "host_role_arns" {
  description = "IAM role of each host role (jump, keystone, rabbitmq, frontend, backend): role name => role ARN."
  value       = module.security.host_role_arns
}

output "instance_profiles" {
  description = "Instance profile of each host role: role name => profile name."
  value       = module.security.instance_profile_names
}

output "alarm_topic_arn" {
  description = "SNS topic of the CloudWatch alarms (subscribed by admin_email)."
  value       = module.monitoring.sns_topic_arn
}
