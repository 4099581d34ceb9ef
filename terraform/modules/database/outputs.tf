output "identifier" {
  description = "RDS instance identifier (<environment>-db)."
  value       = aws_db_instance.this.identifier
}

output "arn" {
  description = "ARN of the RDS instance."
  value       = aws_db_instance.this.arn
}

output "address" {
  description = "Host name of the RDS endpoint (target of the mysql CNAME)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the RDS endpoint."
  value       = aws_db_instance.this.port
}

output "endpoint" {
  description = "RDS endpoint as host:port."
  value       = aws_db_instance.this.endpoint
}

output "instance_class" {
  description = "DB instance class in use."
  value       = aws_db_instance.this.instance_class
}

output "allocated_storage" {
  description = "Initial allocated storage in GiB (base of the free-storage alarms)."
  value       = var.allocated_storage
}

output "max_connections" {
  description = "max_connections of the parameter group (base of the connection alarms)."
  value       = var.max_connections
}

output "master_user_secret_arn" {
  description = "ARN of the master user secret RDS manages (null until RDS reports it)."
  value       = one(aws_db_instance.this.master_user_secret[*].secret_arn)
}

output "user_secret_arns" {
  description = "Secrets Manager ARNs (not values) of the keystone and cso_portal database users."
  value       = { for k, s in aws_secretsmanager_secret.user : k => s.arn }
}

output "engine_version_actual" {
  description = "MySQL version RDS runs (engine_version is the major version only; RDS picks and upgrades the minor)."
  value       = aws_db_instance.this.engine_version_actual
}
