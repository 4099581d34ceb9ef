# Networking (LLD 2.2, 3.2.2, 4.3): VPC, two public and two private subnets, one NAT gateway
# per zone, route tables per tier and zone, SSM endpoints, flow logs and, when ha, the
# internet-facing ALB and the internal backend ALB with their target groups.

locals {
  # LLD 2.2.2: the upper half of the VPC is public, the lower half private; each half is
  # split in two, element 0 in availability_zones[0].
  public_cidrs  = cidrsubnets(cidrsubnet(var.vpc_cidr, 1, 0), 1, 1)
  private_cidrs = cidrsubnets(cidrsubnet(var.vpc_cidr, 1, 1), 1, 1)

  # Keyed by zone name, so adding or reordering nothing else recreates a subnet.
  public_subnets  = { for i, az in var.availability_zones : az => local.public_cidrs[i] }
  private_subnets = { for i, az in var.availability_zones : az => local.private_cidrs[i] }

  ssm_endpoints = toset(["ssm", "ssmmessages", "ec2messages"])

  lb_count = var.ha ? 1 : 0

  # The user pool of the ALB's Cognito action, from its ARN
  # (arn:<partition>:cognito-idp:<region>:<account>:userpool/<id>).
  user_pool_id     = try(split("/", var.load_balancer.cognito.user_pool_arn)[1], null)
  user_pool_region = try(split(":", var.load_balancer.cognito.user_pool_arn)[3], null)
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  enable_dns_support   = true

  tags = merge(var.tags, { Name = "${var.environment}-${var.vpc_name}" })
}

# Take every rule away from the default security group: nothing may use it by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.environment}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.environment}-igw" })
}

resource "aws_subnet" "public" {
  for_each = local.public_subnets

  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value
  availability_zone = each.key
  # Only the load balancers and NAT gateways live here; instances never get public IPs.
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.environment}-public-${each.key}", Tier = "public" })
}

resource "aws_subnet" "private" {
  for_each = local.private_subnets

  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value
  availability_zone = each.key

  tags = merge(var.tags, { Name = "${var.environment}-private-${each.key}", Tier = "private" })
}

resource "aws_eip" "nat" {
  for_each = local.public_subnets

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.environment}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

# One NAT gateway per zone: losing a zone does not cut the other zone's egress.
resource "aws_nat_gateway" "this" {
  for_each = local.public_subnets

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id

  tags = merge(var.tags, { Name = "${var.environment}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  for_each = local.public_subnets

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.environment}-public-${each.key}", Tier = "public" })
}

resource "aws_route" "public_internet" {
  for_each = local.public_subnets

  route_table_id         = aws_route_table.public[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = local.public_subnets

  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public[each.key].id
}

resource "aws_route_table" "private" {
  for_each = local.private_subnets

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.environment}-private-${each.key}", Tier = "private" })
}

resource "aws_route" "private_nat" {
  for_each = local.private_subnets

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[each.key].id
}

resource "aws_route_table_association" "private" {
  for_each = local.private_subnets

  subnet_id      = aws_subnet.private[each.key].id
  route_table_id = aws_route_table.private[each.key].id
}

# LLD 4.3: Session Manager works from the private subnets without the NAT path.
resource "aws_vpc_endpoint" "ssm" {
  for_each = local.ssm_endpoints

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = [for az in var.availability_zones : aws_subnet.private[az].id]
  security_group_ids  = [var.security_group_ids.endpoints]
  private_dns_enabled = true

  tags = merge(var.tags, { Name = "${var.environment}-${each.key}" })
}

# Gateway endpoint (free): the cso binary and packages come from S3 without NAT charges.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for az in var.availability_zones : aws_route_table.private[az].id]

  tags = merge(var.tags, { Name = "${var.environment}-s3" })
}

# VPC flow logs to an encrypted log group.
resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/aws/vpc/${var.environment}/flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_iam_role" "flow_logs" {
  name        = "${var.environment}-vpc-flow-logs"
  description = "Lets VPC Flow Logs write to ${aws_cloudwatch_log_group.flow_logs.name}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
    }]
  })

  tags = var.tags
}

#tfsec:ignore:aws-iam-no-policy-wildcards Log streams of this one log group: their names are made up by the Flow Logs service.
resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
      ]
      Resource = [aws_cloudwatch_log_group.flow_logs.arn, "${aws_cloudwatch_log_group.flow_logs.arn}:*"]
    }]
  })
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn

  tags = merge(var.tags, { Name = "${var.environment}-flow-logs" })
}

# ---------------------------------------------------------------------------------------
# Internet-facing ALB (HA only, LLD 2.2.3, 2.2.4, 5.1)
# ---------------------------------------------------------------------------------------

#tfsec:ignore:aws-elb-alb-not-public The portal's public entry point (LLD 2.2.3); every route authenticates with Cognito first.
resource "aws_lb" "frontend" {
  count = local.lb_count

  name                             = "${var.environment}-frontend-lb"
  internal                         = false
  load_balancer_type               = "application"
  security_groups                  = [var.security_group_ids.alb]
  subnets                          = [for az in var.availability_zones : aws_subnet.public[az].id]
  drop_invalid_header_fields       = true
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.prod
  idle_timeout                     = 60

  access_logs {
    bucket  = var.logs_bucket
    prefix  = "alb/frontend"
    enabled = true
  }

  tags = merge(var.tags, { Name = "${var.environment}-frontend-lb" })

  lifecycle {
    precondition {
      condition     = var.load_balancer != null
      error_message = "ha is true but the env file has no load_balancer key: set load_balancer.certificate_arn and load_balancer.cognito.{user_pool_arn,user_pool_client_id,user_pool_domain} (docs/environments.md)."
    }
  }
}

resource "aws_lb_target_group" "frontend" {
  count = local.lb_count

  name                 = "${var.environment}-frontend-tg"
  port                 = 8102
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = "300"

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = "/ui/management/login/system"
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 5
    interval            = 30
    matcher             = "200"
  }

  tags = merge(var.tags, { Name = "${var.environment}-frontend-tg" })
}

resource "aws_lb_target_group" "keystone" {
  count = local.lb_count

  name                 = "${var.environment}-keystone-tg"
  port                 = 5000
  protocol             = "HTTPS"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = "300"

  # Apache serves Keystone at / and at /api/idm, so the ALB can route /api/idm/* here.
  health_check {
    enabled             = true
    protocol            = "HTTPS"
    port                = "traffic-port"
    path                = "/api/idm/v3"
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 10
    interval            = 30
    matcher             = "200,300"
  }

  tags = merge(var.tags, { Name = "${var.environment}-keystone-tg" })
}

# The jump server's admin UI (cso admin serve, port 8081 per the matrix of LLD 2.3.1). It
# serves HTTPS with the jump server's certificate; /health is its unauthenticated probe
# (every other path needs a session and answers 303 or 401).
resource "aws_lb_target_group" "jump" {
  count = local.lb_count

  name                 = "${var.environment}-jump-admin-tg"
  port                 = 8081
  protocol             = "HTTPS"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = "300"

  health_check {
    enabled             = true
    protocol            = "HTTPS"
    port                = "traffic-port"
    path                = "/health"
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 5
    interval            = 30
    matcher             = "200"
  }

  tags = merge(var.tags, { Name = "${var.environment}-jump-admin-tg" })
}

resource "aws_lb_listener" "http" {
  count = local.lb_count

  load_balancer_arn = aws_lb.frontend[0].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count = local.lb_count

  load_balancer_arn = aws_lb.frontend[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.load_balancer.certificate_arn

  # Anything no rule claims goes to the frontend after Cognito sign-in; this also serves
  # Cognito's /oauth2/idpresponse callback.
  default_action {
    type  = "authenticate-cognito"
    order = 1

    authenticate_cognito {
      user_pool_arn              = var.load_balancer.cognito.user_pool_arn
      user_pool_client_id        = var.load_balancer.cognito.user_pool_client_id
      user_pool_domain           = var.load_balancer.cognito.user_pool_domain
      on_unauthenticated_request = "authenticate"
    }
  }

  default_action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.frontend[0].arn
  }

  tags = var.tags
}

# Keystone's API for the browser session: API calls without a Cognito session get 401,
# not an HTML redirect.
resource "aws_lb_listener_rule" "identity" {
  count = local.lb_count

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 10

  action {
    type  = "authenticate-cognito"
    order = 1

    authenticate_cognito {
      user_pool_arn              = var.load_balancer.cognito.user_pool_arn
      user_pool_client_id        = var.load_balancer.cognito.user_pool_client_id
      user_pool_domain           = var.load_balancer.cognito.user_pool_domain
      on_unauthenticated_request = "deny"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.keystone[0].arn
  }

  condition {
    path_pattern {
      values = ["/api/idm/*"]
    }
  }

  tags = merge(var.tags, { Name = "${var.environment}-identity" })
}

# The jump server's admin UI. Cognito sign-in is the gate on this path; the dashboard then
# admits only members of the administrators' group (aws_cognito_user_group.admins below),
# from the access token the ALB forwards. No source_ip condition: on an internet-facing
# ALB the source is the client's public address, which the private jump_server_access_cidrs
# never match (docs/decisions/terraform.md); those networks reach 8081 directly through the
# jump server's security group.
resource "aws_lb_listener_rule" "admin" {
  count = local.lb_count

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 20

  action {
    type  = "authenticate-cognito"
    order = 1

    authenticate_cognito {
      user_pool_arn              = var.load_balancer.cognito.user_pool_arn
      user_pool_client_id        = var.load_balancer.cognito.user_pool_client_id
      user_pool_domain           = var.load_balancer.cognito.user_pool_domain
      on_unauthenticated_request = "authenticate"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.jump[0].arn
  }

  condition {
    path_pattern {
      values = ["/admin/*"]
    }
  }

  tags = merge(var.tags, { Name = "${var.environment}-admin" })
}

# The administrators' group in the environment's user pool: only its members may use the
# admin dashboard through the ALB (every other user of the pool gets 403 from it).
resource "aws_cognito_user_group" "admins" {
  count = local.lb_count

  name         = var.admin_group
  user_pool_id = local.user_pool_id
  description  = "Administrators of the ${var.environment} CSO platform: may use the jump server's admin dashboard through the ALB"
}

# The portal and management UIs served by nginx on the frontends (LLD 3.1.1).
resource "aws_lb_listener_rule" "portal" {
  count = local.lb_count

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 30

  action {
    type  = "authenticate-cognito"
    order = 1

    authenticate_cognito {
      user_pool_arn              = var.load_balancer.cognito.user_pool_arn
      user_pool_client_id        = var.load_balancer.cognito.user_pool_client_id
      user_pool_domain           = var.load_balancer.cognito.user_pool_domain
      on_unauthenticated_request = "authenticate"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.frontend[0].arn
  }

  condition {
    path_pattern {
      values = ["/ui/portal/*", "/ui/management/*"]
    }
  }

  tags = merge(var.tags, { Name = "${var.environment}-portal" })
}

# ---------------------------------------------------------------------------------------
# Internal backend ALB (HA only, LLD 3.2.2): one listener and target group per service.
# ---------------------------------------------------------------------------------------

resource "aws_lb" "backend" {
  count = local.lb_count

  name                             = "${var.environment}-backend-alb"
  internal                         = true
  load_balancer_type               = "application"
  security_groups                  = [var.security_group_ids.backend_alb]
  subnets                          = [for az in var.availability_zones : aws_subnet.private[az].id]
  drop_invalid_header_fields       = true
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.prod
  idle_timeout                     = 60

  access_logs {
    bucket  = var.logs_bucket
    prefix  = "alb/backend"
    enabled = true
  }

  tags = merge(var.tags, { Name = "${var.environment}-backend-alb" })
}

resource "aws_lb_target_group" "backend" {
  for_each = var.ha ? var.backend_services : {}

  name                 = "${var.environment}-be-${each.key}"
  port                 = each.value.port
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = aws_vpc.this.id
  deregistration_delay = "300"

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = each.value.health_check_path
    healthy_threshold   = 2
    unhealthy_threshold = 3
    timeout             = 5
    interval            = 30
    matcher             = "200"
  }

  tags = merge(var.tags, { Name = "${var.environment}-be-${each.key}", Service = each.key })
}

#tfsec:ignore:aws-elb-http-not-used Internal ALB inside the VPC; the frontends call the backend services over HTTP as LLD 3.1.2 specifies, TLS ends at the internet-facing ALB.
resource "aws_lb_listener" "backend" {
  for_each = var.ha ? var.backend_services : {}

  load_balancer_arn = aws_lb.backend[0].arn
  port              = each.value.port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.backend[each.key].arn
  }

  tags = merge(var.tags, { Service = each.key })
}
