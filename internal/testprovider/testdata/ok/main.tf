variable "environment" {
  type    = string
  default = "test"
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "EC2Assume"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_vpc" "main" {
  cidr_block           = "10.0.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags = {
    Name = "cso-${var.environment}"
  }
}

resource "aws_subnet" "private" {
  for_each          = { a = 0, b = 1 }
  vpc_id            = aws_vpc.main.id
  cidr_block        = cidrsubnet(aws_vpc.main.cidr_block, 8, each.value)
  availability_zone = data.aws_availability_zones.available.names[each.value]
  tags = {
    Name = "private-${each.key}"
  }
}

resource "aws_security_group" "app" {
  name_prefix = "cso-app-"
  vpc_id      = aws_vpc.main.id
  description = "app servers"
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.app.id
  cidr_ipv4         = aws_vpc.main.cidr_block
  from_port         = 443
  to_port           = 443
  ip_protocol       = "tcp"
  description       = "HTTPS from the VPC"
}

resource "aws_iam_role" "app" {
  name               = "cso-${var.environment}-app"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_instance" "app" {
  ami                    = data.aws_ssm_parameter.al2023.insecure_value
  instance_type          = "t3.micro"
  subnet_id              = aws_subnet.private["a"].id
  vpc_security_group_ids = [aws_security_group.app.id]

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    encrypted   = true
    volume_size = 20
    volume_type = "gp3"
  }

  tags = {
    Name = "app"
  }
}

resource "aws_db_subnet_group" "db" {
  name       = "cso-${var.environment}"
  subnet_ids = [for s in aws_subnet.private : s.id]
}

resource "aws_db_instance" "db" {
  identifier                  = "cso-${var.environment}"
  engine                      = "mysql"
  engine_version              = "8.4"
  instance_class              = "db.t3.micro"
  allocated_storage           = 20
  username                    = "admin"
  manage_master_user_password = true
  db_subnet_group_name        = aws_db_subnet_group.db.name
  storage_encrypted           = true
  skip_final_snapshot         = true
}

resource "aws_lb" "public" {
  name               = "cso-${var.environment}"
  load_balancer_type = "application"
  subnets            = [for s in aws_subnet.private : s.id]
  security_groups    = [aws_security_group.app.id]
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.public.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "tls_private_key" "ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 24
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature"]
  subject {
    common_name  = "CSO Test CA"
    organization = "CSO"
  }
}

resource "tls_private_key" "server" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_cert_request" "server" {
  private_key_pem = tls_private_key.server.private_key_pem
  dns_names       = ["keystone.cso.internal"]
  subject {
    common_name = "keystone.cso.internal"
  }
}

resource "tls_locally_signed_cert" "server" {
  cert_request_pem      = tls_cert_request.server.cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 24
  allowed_uses          = ["digital_signature", "key_encipherment", "server_auth"]
}

resource "random_password" "rabbit" {
  length      = 24
  special     = false
  min_numeric = 2
}

resource "random_id" "suffix" {
  byte_length = 4
}

output "account_id" {
  value = data.aws_caller_identity.current.account_id
}

output "region" {
  value = data.aws_region.current.region
}

output "partition" {
  value = data.aws_partition.current.partition
}

output "vpc_id" {
  value = aws_vpc.main.id
}

output "instance_private_ip" {
  value = aws_instance.app.private_ip
}

output "db_secret_arn" {
  value = aws_db_instance.db.master_user_secret[0].secret_arn
}

output "db_endpoint" {
  value = "${aws_db_instance.db.address}:${aws_db_instance.db.port}"
}

output "lb_dns_name" {
  value = aws_lb.public.dns_name
}

output "assume_policy" {
  value = data.aws_iam_policy_document.assume.json
}

output "ca_cert_pem" {
  value = tls_self_signed_cert.ca.cert_pem
}

output "server_cert_pem" {
  value = tls_locally_signed_cert.server.cert_pem
}

output "rabbit_password" {
  value     = random_password.rabbit.result
  sensitive = true
}

output "suffix" {
  value = random_id.suffix.hex
}

# Attributes served as set(object) (ConfigModeAttr in the real provider) accept block syntax.
resource "aws_security_group" "legacy" {
  name   = "cso-legacy"
  vpc_id = aws_vpc.main.id

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.main.cidr_block]
    description = "SSH from the VPC"
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  route  = []
}

resource "aws_ebs_volume" "data" {
  availability_zone = aws_instance.app.availability_zone
  size              = 10
  encrypted         = true
}

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]
  filter {
    name   = "name"
    values = ["al2023-ami-*-x86_64"]
  }
}

data "aws_elb_service_account" "main" {}

data "aws_vpc_endpoint_service" "s3" {
  service      = "s3"
  service_type = "Gateway"
}

data "aws_availability_zones" "two" {
  exclude_names = ["eu-west-2c"]
}

resource "aws_secretsmanager_secret" "rabbit" {
  name = "cso/rabbitmq/ssp_user"
}

resource "aws_secretsmanager_secret_version" "rabbit" {
  secret_id     = aws_secretsmanager_secret.rabbit.id
  secret_string = jsonencode({ username = "ssp_user", password = random_password.rabbit.result })
}

data "aws_secretsmanager_secret_version" "rabbit" {
  secret_id = aws_secretsmanager_secret_version.rabbit.secret_id
}

output "ami_id" {
  value = data.aws_ami.al2023.id
}

output "elb_account_arn" {
  value = data.aws_elb_service_account.main.arn
}

output "s3_endpoint_service" {
  value = data.aws_vpc_endpoint_service.s3.service_name
}

output "two_zones" {
  value = data.aws_availability_zones.two.names
}

output "rabbit_secret_arn" {
  value = aws_secretsmanager_secret.rabbit.arn
}

output "rabbit_secret_read" {
  value     = jsondecode(data.aws_secretsmanager_secret_version.rabbit.secret_string)
  sensitive = true
}

output "instance_ami" {
  value = aws_instance.app.ami
}

resource "aws_route53_zone" "private" {
  name = "cso.internal"
  vpc {
    vpc_id = aws_vpc.main.id
  }
}

resource "aws_acm_certificate" "portal" {
  domain_name               = "portal.cso.example"
  subject_alternative_names = ["api.cso.example"]
  validation_method         = "DNS"
}

# for_each over domain_validation_options works at the first plan, as with the real provider.
resource "aws_route53_record" "validation" {
  for_each = { for dvo in aws_acm_certificate.portal.domain_validation_options : dvo.domain_name => dvo }
  zone_id  = aws_route53_zone.private.zone_id
  name     = each.value.resource_record_name
  type     = each.value.resource_record_type
  records  = [each.value.resource_record_value]
  ttl      = 60
}

resource "aws_acm_certificate_validation" "portal" {
  certificate_arn         = aws_acm_certificate.portal.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

data "aws_subnets" "all" {
  filter {
    name   = "vpc-id"
    values = ["vpc-0123456789abcdef0"]
  }
}

output "validation_records" {
  value = sort(keys(aws_route53_record.validation))
}

output "name_servers" {
  value = aws_route53_zone.private.name_servers
}

output "subnet_ids" {
  value = data.aws_subnets.all.ids
}
