# Database (LLD 2.6, 7.1): RDS MySQL with the master password managed by RDS, and generated
# passwords for the keystone and cso_portal users in Secrets Manager.

locals {
  identifier     = "${var.environment}-db"
  instance_class = coalesce(var.instance_class, var.prod ? "db.m6i.4xlarge" : "db.t3.2xlarge")
  # mysql8.4 for 8.4: the parameter group family is the major version.
  family = "mysql${var.engine_version}"

  # The application databases and their users (LLD 2.6.2, without its literal passwords).
  # The agent creates them with the master user; these are the credentials it sets.
  users = {
    keystone   = { username = "keystone", database = "keystone" }
    cso_portal = { username = "cso_user", database = "cso_portal" }
  }
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.environment}-db"
  description = "${var.environment} RDS MySQL in the private subnets"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.environment}-${replace(local.family, ".", "-")}"
  family      = local.family
  description = "${var.environment} CSO MySQL parameters"

  parameter {
    name  = "max_connections"
    value = tostring(var.max_connections)
  }

  parameter {
    name  = "character_set_server"
    value = "utf8mb4"
  }

  parameter {
    name  = "collation_server"
    value = "utf8mb4_unicode_ci"
  }

  # Every connection must use TLS (issue #10): for MySQL 8.4 and lower RDS defaults to 0
  # (OFF); dynamic, no reboot (docs/decisions/roles.md, "Database traffic over verified TLS").
  parameter {
    name  = "require_secure_transport"
    value = "1"
  }

  parameter {
    name  = "slow_query_log"
    value = "1"
  }

  parameter {
    name  = "long_query_time"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Enhanced monitoring (60 s) publishes OS metrics through this role.
resource "aws_iam_role" "monitoring" {
  name        = "${var.environment}-rds-monitoring"
  description = "RDS enhanced monitoring for ${local.identifier}"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier     = local.identifier
  engine         = "mysql"
  engine_version = var.engine_version
  instance_class = local.instance_class

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  username                      = "cso_admin"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.ha

  backup_retention_period   = var.prod ? 30 : 7
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  skip_final_snapshot       = !var.prod
  final_snapshot_identifier = var.prod ? "${local.identifier}-final" : null
  deletion_protection       = var.prod
  delete_automated_backups  = !var.prod

  # engine_version is the major version only (8.4): RDS chooses the minor version at
  # creation and upgrades it in the maintenance window; engine_version_actual reports it.
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  apply_immediately           = false

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  enabled_cloudwatch_logs_exports       = ["error", "slowquery"]

  iam_database_authentication_enabled = true

  tags = merge(var.tags, { Name = local.identifier })

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}

# Letters and digits only: the passwords go into SQLAlchemy URLs unescaped
# (mysql+pymysql://keystone:<password>@mysql.<zone>/keystone, LLD 3.3.1).
resource "random_password" "user" {
  for_each = local.users

  length      = 32
  special     = false
  min_upper   = 2
  min_lower   = 2
  min_numeric = 2
}

resource "aws_secretsmanager_secret" "user" {
  for_each = local.users

  name                    = "${var.environment}/cso/database/${each.key}"
  description             = "${var.environment}: MySQL user ${each.value.username} of database ${each.value.database}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.prod ? 30 : 0

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "user" {
  for_each = local.users

  secret_id = aws_secretsmanager_secret.user[each.key].id
  secret_string = jsonencode({
    engine   = "mysql"
    host     = var.hostname
    port     = aws_db_instance.this.port
    dbname   = each.value.database
    username = each.value.username
    password = random_password.user[each.key].result
  })
}
