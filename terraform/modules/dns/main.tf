# DNS (LLD 2.7): the environment's private zone, an A record per host and the service CNAMEs.

resource "aws_route53_zone" "private" {
  name    = var.zone_name
  comment = "${var.environment} CSO hosts and service aliases"

  vpc {
    vpc_id = var.vpc_id
  }

  tags = var.tags
}

resource "aws_route53_record" "host" {
  for_each = var.hosts

  zone_id = aws_route53_zone.private.zone_id
  name    = "${each.key}.${var.zone_name}"
  type    = "A"
  ttl     = var.ttl
  records = [each.value]
}

resource "aws_route53_record" "service_alias" {
  for_each = var.service_aliases

  zone_id = aws_route53_zone.private.zone_id
  name    = "${each.key}.${var.zone_name}"
  type    = "CNAME"
  ttl     = var.ttl
  records = ["${each.value}.${var.zone_name}"]
}

resource "aws_route53_record" "external_alias" {
  for_each = var.external_aliases

  zone_id = aws_route53_zone.private.zone_id
  name    = "${each.key}.${var.zone_name}"
  type    = "CNAME"
  ttl     = var.ttl
  records = [each.value]
}

# Route 53 health checks (LLD's dns module). Route 53's checkers are outside the VPC and
# cannot reach private endpoints, so each check follows a CloudWatch alarm instead: the
# target group's "no healthy host" alarm (the ALB probes the targets from inside the VPC).
# The records stay simple CNAMEs (a health check attaches only to failover-style records,
# and no service has a second name to fail over to); the checks give one health status
# per service in Route 53 and its HealthCheckStatus metric.
resource "aws_route53_health_check" "service" {
  for_each = var.health_check_alarms

  type                    = "CLOUDWATCH_METRIC"
  cloudwatch_alarm_name   = each.value
  cloudwatch_alarm_region = var.region
  # The alarm treats missing data as breaching, so INSUFFICIENT_DATA only happens while it
  # is new or CloudWatch has a gap: keep the last status rather than flap.
  insufficient_data_health_status = "LastKnownStatus"

  tags = merge(var.tags, { Name = "${var.environment}-${each.key}" })
}
