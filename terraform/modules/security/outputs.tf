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

output "instance_role_name" {
  description = "Name of the hosts' IAM role."
  value       = aws_iam_role.host.name
}

output "instance_role_arn" {
  description = "ARN of the hosts' IAM role."
  value       = aws_iam_role.host.arn
}

output "instance_profile_name" {
  description = "Name of the hosts' instance profile."
  value       = aws_iam_instance_profile.host.name
}

output "host_policy_arn" {
  description = "ARN of the hosts' least-privilege custom policy."
  value       = aws_iam_policy.host.arn
}

output "service_secret_arns" {
  description = "Secrets Manager ARNs (not values) of the generated service secrets, keyed rabbitmq/ssp_user, keystone/admin, rabbitmq/erlang-cookie."
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
