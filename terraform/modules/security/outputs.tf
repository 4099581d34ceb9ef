output "security_group_ids" {
  description = "Security group IDs by key: core, jump, frontend, backend, keystone, rabbitmq, rds, efs, endpoints, and alb, backend_alb when ha."
  value       = local.sg_id
}

output "kms_key_arn" {
  description = "ARN of the environment's KMS key (EFS, RDS, S3, Secrets Manager, EBS, logs, SNS)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  description = "ID of the environment's KMS key."
  value       = aws_kms_key.this.key_id
}

output "kms_alias" {
  description = "Alias of the environment's KMS key."
  value       = aws_kms_alias.this.name
}

output "host_role_arns" {
  description = "ARN of each host role's IAM role, keyed jump, keystone, rabbitmq, frontend, backend."
  value       = { for k, r in aws_iam_role.host : k => r.arn }
}

output "host_role_names" {
  description = "Name of each host role's IAM role (<env>-cso-<role>), keyed by role."
  value       = { for k, r in aws_iam_role.host : k => r.name }
}

output "instance_profile_names" {
  description = "Name of each host role's instance profile (<env>-cso-<role>), keyed by role."
  value       = { for k, p in aws_iam_instance_profile.host : k => p.name }
}

output "host_policy_arns" {
  description = "ARN of each host role's least-privilege custom policy, keyed by role."
  value       = { for k, p in aws_iam_policy.host : k => p.arn }
}

output "role_secret_arns" {
  description = "Secrets Manager ARNs each host role may read (besides each host's own TLS secret and, for jump, the RDS master secret), keyed by role."
  value       = local.role_secret_arns
}

output "service_secret_arns" {
  description = "Secrets Manager ARNs (not values) of the generated service secrets, keyed rabbitmq/ssp_user, keystone/admin, keystone/automation, keystone/application, rabbitmq/erlang-cookie."
  value       = { for k, s in aws_secretsmanager_secret.service : k => s.arn }
}

output "host_tls_secret_arns" {
  description = "Secrets Manager ARNs (not values) of each host's certificate and private key, keyed by host name."
  value       = { for k, s in aws_secretsmanager_secret.host_tls : k => s.arn }
}

output "root_ca_secret_arn" {
  description = "Secrets Manager ARN of the root CA certificate and key (operators only; no host role can read it)."
  value       = aws_secretsmanager_secret.root_ca.arn
}

output "root_ca_certificate_pem" {
  description = "Root CA certificate (public) in PEM; clients trust it for every host's TLS."
  value       = tls_self_signed_cert.root_ca.cert_pem
}

output "host_certificates" {
  description = "Per host: the certificate's DNS names and validity end (the certificate itself is in the host's secret)."
  value = {
    for k, c in tls_locally_signed_cert.host : k => {
      dns_names    = var.hosts[k].dns_names
      validity_end = c.validity_end_time
      secret_name  = aws_secretsmanager_secret.host_tls[k].name
    }
  }
}
