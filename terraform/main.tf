# CSO Shared Services Portal estate (LLD section 2): one workspace per environment, all
# settings from environments/env.<workspace>.yaml.

module "networking" {
  source = "./modules/networking"

  environment        = local.environment
  vpc_name           = local.env.vpc_name
  vpc_cidr           = local.env.vpc_cidr
  availability_zones = local.env.availability_zones
  region             = local.env.region
  ha                 = local.ha
  prod               = local.prod
  load_balancer      = try(local.env.load_balancer, null)
  logs_bucket        = module.storage.logs_bucket.id
  kms_key_arn        = module.security.kms_key_arn

  security_group_ids = {
    endpoints   = module.security.security_group_ids["endpoints"]
    alb         = try(module.security.security_group_ids["alb"], null)
    backend_alb = try(module.security.security_group_ids["backend_alb"], null)
  }
}

module "security" {
  source = "./modules/security"

  environment          = local.environment
  region               = local.env.region
  account_id           = local.account_id
  partition            = local.partition
  vpc_id               = module.networking.vpc_id
  vpc_cidr             = local.env.vpc_cidr
  ha                   = local.ha
  prod                 = local.prod
  hosts                = { for name, h in local.hosts : name => { fqdn = h.fqdn, dns_names = h.dns_names } }
  cso_files_bucket_arn = module.storage.files_bucket.arn
  db_instance_arn      = module.database.arn
  # Which role reads which database user's secret is the security module's table.
  database_user_secret_arns = module.database.user_secret_arns
  # Each host's own TLS secret and status document are granted to its instance alone.
  instances = { for name, i in module.compute.instances : name => { role = i.role, id = i.id } }
  # The agent writes to these groups only (cwagent); the monitoring module creates them.
  host_log_group_arns = values(module.monitoring.log_group_arns)

  # Direct access (VPN, peering) to the jump server's admin UI; the ALB path is gated by
  # Cognito instead.
  jump_server_access_cidrs = local.env.jump_server_access_cidrs
}

module "storage" {
  source = "./modules/storage"

  environment           = local.environment
  prod                  = local.prod
  account_id            = local.account_id
  region                = local.env.region
  partition             = local.partition
  private_subnet_ids    = { for az, s in module.networking.private_subnets : az => s.id }
  efs_security_group_id = module.security.security_group_ids["efs"]
  kms_key_arn           = module.security.kms_key_arn
  host_role_arns        = module.security.host_role_arns
}

module "database" {
  source = "./modules/database"

  environment       = local.environment
  prod              = local.prod
  ha                = local.ha
  partition         = local.partition
  engine_version    = try(local.env.database.engine_version, null) != null ? local.env.database.engine_version : "8.4"
  instance_class    = try(local.env.database.instance_class, null)
  subnet_ids        = module.networking.private_subnet_ids
  security_group_id = module.security.security_group_ids["rds"]
  kms_key_arn       = module.security.kms_key_arn
  hostname          = "mysql.${local.zone_name}"
}

module "compute" {
  source = "./modules/compute"

  environment            = local.environment
  account_id             = local.account_id
  region                 = local.env.region
  hosts                  = { for name, h in local.hosts : name => { role = h.role, index = h.index, instance_type = h.instance_type, availability_zone = h.availability_zone, fqdn = h.fqdn } }
  subnet_ids             = { for az, s in module.networking.private_subnets : az => s.id }
  security_group_ids     = module.security.security_group_ids
  instance_profile_names = module.security.instance_profile_names
  kms_key_arn            = module.security.kms_key_arn
  access_points          = module.storage.access_points
  files_bucket           = module.storage.files_bucket.id
  # The ARN, not the password: the agent reads the value through the host's IAM role.
  # Only the jump server's user data gets it, so only the jump server waits for RDS.
  database_master_secret_arn = module.database.master_user_secret_arn
  target_groups              = module.networking.target_groups
}

module "dns" {
  source = "./modules/dns"

  environment     = local.environment
  zone_name       = local.zone_name
  vpc_id          = module.networking.vpc_id
  hosts           = { for name, i in module.compute.instances : name => i.private_ip }
  service_aliases = local.service_aliases
  # One Route 53 health check per target group, following its no-healthy-host alarm.
  region              = local.env.region
  health_check_alarms = module.monitoring.target_group_alarm_names
  external_aliases = merge(
    { mysql = module.database.address },
    local.ha ? { backend-lb = module.networking.backend_alb.dns_name } : {},
  )
}

module "monitoring" {
  source = "./modules/monitoring"

  environment  = local.environment
  admin_email  = local.env.admin_email
  kms_key_arn  = module.security.kms_key_arn
  instances    = { for name, i in module.compute.instances : name => { id = i.id, role = i.role } }
  file_systems = module.storage.file_systems

  rds = {
    identifier        = module.database.identifier
    allocated_storage = module.database.allocated_storage
    max_connections   = module.database.max_connections
  }

  ha                       = local.ha
  load_balancer_arn_suffix = local.ha ? module.networking.frontend_alb.arn_suffix : null
  log_retention_days       = local.log_retention_days
  target_groups            = module.networking.target_groups
}
