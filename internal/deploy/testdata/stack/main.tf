# A small stand-in for terraform/ used by the deploy tests while developing, and by the
# interrupt test: the same interface (var.env_file, workspace = environment, hosts as
# module.compute.aws_instance.this["<host>"], subnets by the LLD's cidrsubnets) and one
# resource whose creation takes $CSO_TEST_SLOW_SECONDS (default 0) seconds and fails when
# $CSO_TEST_FAIL_APPLY is set.
terraform {
  required_version = ">= 1.8"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
  backend "s3" {}
}

variable "env_file" {
  type = string
}

locals {
  env    = yamldecode(file(var.env_file))
  ha     = local.env.ha
  counts = local.ha ? { frontend = 2, backend = 2, keystone = 2, rabbitmq = 3 } : { frontend = 1, backend = 1, keystone = 1, rabbitmq = 1 }
  names = concat(
    ["jump-server-1"],
    [for i in range(1, local.counts.keystone + 1) : format("keystone%02d", i)],
    [for i in range(1, local.counts.rabbitmq + 1) : "rabbitmq-server-${i}"],
    [for i in range(1, local.counts.frontend + 1) : "frontend-server-${i}"],
    [for i in range(1, local.counts.backend + 1) : "backend-server-${i}"],
  )
  public  = cidrsubnets(cidrsubnet(local.env.vpc_cidr, 1, 0), 1, 1)
  private = cidrsubnets(cidrsubnet(local.env.vpc_cidr, 1, 1), 1, 1)
  subnets = merge(
    { for i, c in local.public : "public-${local.env.availability_zones[i]}" => { cidr = c, az = local.env.availability_zones[i] } },
    { for i, c in local.private : "private-${local.env.availability_zones[i]}" => { cidr = c, az = local.env.availability_zones[i] } },
  )
}

provider "aws" {
  region = local.env.region
}

resource "aws_vpc" "main" {
  cidr_block = local.env.vpc_cidr
  tags       = { Name = "${terraform.workspace}-${local.env.vpc_name}" }
}

resource "aws_subnet" "this" {
  for_each          = local.subnets
  vpc_id            = aws_vpc.main.id
  cidr_block        = each.value.cidr
  availability_zone = each.value.az
}

# Slow on demand: the interrupt test needs an apply that is still running when it
# presses Ctrl-C.
resource "terraform_data" "slow" {
  input = aws_vpc.main.id
  provisioner "local-exec" {
    # $CSO_TEST_FAIL_APPLY makes the apply fail here (a failed resource, like an AWS error).
    command = "sleep $${CSO_TEST_SLOW_SECONDS:-0}; test -z \"$${CSO_TEST_FAIL_APPLY:-}\" || { echo simulated AWS error >&2; exit 1; }"
  }
}

module "compute" {
  source     = "./modules/compute"
  hosts      = toset(local.names)
  subnet_ids = [for k, s in aws_subnet.this : s.id if startswith(k, "private-")]
  depends_on = [terraform_data.slow]
}

output "subnets" {
  value = { for k, s in aws_subnet.this : k => s.cidr_block }
}

# The outputs `cso deploy` builds the target description from (as terraform/ has them).
output "hosts" {
  value = {
    for name, i in module.compute.instances : name => {
      role       = startswith(name, "keystone") ? "keystone" : split("-", name)[0]
      index      = tonumber(regex("[0-9]+$", name))
      private_ip = i.private_ip
      fqdn       = "${name}.${terraform.workspace}.cso.ss"
    }
  }
}

output "database" {
  value = { endpoint = "mysql.${terraform.workspace}.cso.ss:3306" }
}

# What the jump server's dashboard needs behind the ALB (null without ha), as terraform/
# outputs it: the ALB ARN and region, the Cognito user pool, app client and group.
output "admin_dashboard" {
  value = local.ha ? {
    alb_arn              = "arn:aws:elasticloadbalancing:${local.env.region}:${format("%012d", local.env.account_id)}:loadbalancer/app/${terraform.workspace}-frontend-lb/50dc6c495c0c9188"
    alb_region           = local.env.region
    cognito_user_pool_id = "${local.env.region}_standin"
    cognito_region       = local.env.region
    cognito_client_id    = "standinclient"
    admin_group          = "cso-admins"
  } : null
}

output "buckets" {
  value = { files = "${terraform.workspace}-cso-files-${format("%012d", local.env.account_id)}" }
}

# A fixed, public, test-only certificate: the stand-in has no tls provider.
output "root_ca_certificate_pem" {
  value = <<-EOT
    -----BEGIN CERTIFICATE-----
    MIIBrjCCAVWgAwIBAgIUShXzdQtVNUvbQvO6aXN1Ks9oAjMwCgYIKoZIzj0EAwIw
    LDEqMCgGA1UEAwwhY3NvIHN0YW5kLWluIHN0YWNrIENBICh0ZXN0IG9ubHkpMCAX
    DTI2MTEyNjA5MTc0N1oYDzIxMjYxMTAyMDkxNzQ3WjAsMSowKAYDVQQDDCFjc28g
    c3RhbmQtaW4gc3RhY2sgQ0EgKHRlc3Qgb25seSkwWTATBgcqhkjOPQIBBggqhkjO
    PQMBBwNCAATNE11PEf8ij9UtTgidMbZ433yDfa1e2tlwnB5wbsreN7fZTb2UdxMh
    9JEWaDlx2EdmeSXPaYfVsOZhHkTARczto1MwUTAdBgNVHQ4EFgQUBABRiygpqxG2
    nc/g5jaiioB8fYYwHwYDVR0jBBgwFoAUBABRiygpqxG2nc/g5jaiioB8fYYwDwYD
    VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAAppWmd2YNREc4cS1FLmxU
    H502btxLYIr7BZ5X5nHMdwIgGGW6alJV2Ql+lNPFm5R/Ly2eImxLFqiQeVjXcRdA
    UN0=
    -----END CERTIFICATE-----
  EOT
}
