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
