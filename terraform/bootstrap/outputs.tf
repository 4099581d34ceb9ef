output "state_bucket" {
  description = "Name of the state bucket: state.bucket of the env file, else cso-terraform-state-<account_id>-<region>."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "Name of the DynamoDB lock table (state.dynamodb_table of the env files)."
  value       = aws_dynamodb_table.locks.name
}

output "kms_key_arn" {
  description = "KMS key encrypting the state bucket and the lock table."
  value       = aws_kms_key.state.arn
}

output "state_principals" {
  description = "The principals that may read and write the state (bucket and key policies); everyone else is denied."
  value       = var.state_principals
}
