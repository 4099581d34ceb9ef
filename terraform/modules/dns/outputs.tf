output "zone_id" {
  description = "ID of the private hosted zone."
  value       = aws_route53_zone.private.zone_id
}

output "zone_name" {
  description = "Name of the private hosted zone."
  value       = aws_route53_zone.private.name
}

output "host_fqdns" {
  description = "FQDN of every host's A record, keyed by host name."
  value       = { for k, r in aws_route53_record.host : k => r.fqdn }
}

output "alias_fqdns" {
  description = "FQDN of every CNAME (service and external aliases), keyed by alias."
  value = merge(
    { for k, r in aws_route53_record.service_alias : k => r.fqdn },
    { for k, r in aws_route53_record.external_alias : k => r.fqdn },
  )
}

output "health_check_ids" {
  description = "Route 53 health check IDs keyed like health_check_alarms."
  value       = { for k, h in aws_route53_health_check.service : k => h.id }
}
