output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnets" {
  description = "Public subnets by availability zone: id and cidr_block."
  value       = { for az, s in aws_subnet.public : az => { id = s.id, cidr_block = s.cidr_block } }
}

output "private_subnets" {
  description = "Private subnets by availability zone: id and cidr_block."
  value       = { for az, s in aws_subnet.private : az => { id = s.id, cidr_block = s.cidr_block } }
}

output "private_subnet_ids" {
  description = "Private subnet IDs in availability_zones order."
  value       = [for az in var.availability_zones : aws_subnet.private[az].id]
}

output "nat_gateway_ids" {
  description = "NAT gateway IDs by availability zone."
  value       = { for az, n in aws_nat_gateway.this : az => n.id }
}

output "private_route_table_ids" {
  description = "Private route table IDs by availability zone."
  value       = { for az, r in aws_route_table.private : az => r.id }
}

output "vpc_endpoint_ids" {
  description = "Interface endpoint IDs (ssm, ssmmessages, ec2messages) and the S3 gateway endpoint ID."
  value       = merge({ for k, e in aws_vpc_endpoint.ssm : k => e.id }, { s3 = aws_vpc_endpoint.s3.id })
}

output "flow_log_group_name" {
  description = "CloudWatch log group of the VPC flow logs."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "frontend_alb" {
  description = "Internet-facing ALB (null unless ha): arn, arn_suffix, dns_name, zone_id."
  value = var.ha ? {
    arn        = aws_lb.frontend[0].arn
    arn_suffix = aws_lb.frontend[0].arn_suffix
    dns_name   = aws_lb.frontend[0].dns_name
    zone_id    = aws_lb.frontend[0].zone_id
  } : null
}

output "backend_alb" {
  description = "Internal backend ALB (null unless ha): arn, arn_suffix, dns_name, zone_id."
  value = var.ha ? {
    arn        = aws_lb.backend[0].arn
    arn_suffix = aws_lb.backend[0].arn_suffix
    dns_name   = aws_lb.backend[0].dns_name
    zone_id    = aws_lb.backend[0].zone_id
  } : null
}

output "target_groups" {
  description = "Target groups (empty unless ha): frontend, keystone, jump and be-<service>, each with arn, arn_suffix, port and the load balancer arn_suffix it serves."
  value = var.ha ? merge(
    {
      frontend = { arn = aws_lb_target_group.frontend[0].arn, arn_suffix = aws_lb_target_group.frontend[0].arn_suffix, port = 8102, lb_arn_suffix = aws_lb.frontend[0].arn_suffix }
      keystone = { arn = aws_lb_target_group.keystone[0].arn, arn_suffix = aws_lb_target_group.keystone[0].arn_suffix, port = 5000, lb_arn_suffix = aws_lb.frontend[0].arn_suffix }
      jump     = { arn = aws_lb_target_group.jump[0].arn, arn_suffix = aws_lb_target_group.jump[0].arn_suffix, port = 8081, lb_arn_suffix = aws_lb.frontend[0].arn_suffix }
    },
    { for k, tg in aws_lb_target_group.backend : "be-${k}" => { arn = tg.arn, arn_suffix = tg.arn_suffix, port = tg.port, lb_arn_suffix = aws_lb.backend[0].arn_suffix } }
  ) : {}
}

output "admin_dashboard" {
  description = "What the admin dashboard behind the internet-facing ALB verifies (null unless ha): the ALB ARN (signer of x-amzn-oidc-data) and region, the Cognito user pool id and region, the app client id and the administrators' group."
  value = var.ha ? {
    alb_arn              = aws_lb.frontend[0].arn
    alb_region           = var.region
    cognito_user_pool_id = local.user_pool_id
    cognito_region       = local.user_pool_region
    cognito_client_id    = var.load_balancer.cognito.user_pool_client_id
    admin_group          = aws_cognito_user_group.admins[0].name
  } : null
}
