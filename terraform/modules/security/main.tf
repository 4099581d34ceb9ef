# Security (LLD 2.3): the security-group matrix, the hosts' IAM role, the environment's KMS
# key, the generated service secrets and the private PKI (root CA + one cert per host).

locals {
  arn_prefix = "arn:${var.partition}"

  # One group per role; "core" is carried by every host and is the "Core SG" source of the
  # matrix. The ALB groups exist only when ha.
  all_security_groups = {
    core        = { ha_only = false, description = "Every CSO host: the source named Core SG in the matrix of LLD 2.3.1" }
    jump        = { ha_only = false, description = "Jump server: admin UI 8081 from the internet-facing ALB" }
    frontend    = { ha_only = false, description = "Frontend servers: nginx 8102 (and 80/443) from the internet-facing ALB" }
    backend     = { ha_only = false, description = "Backend servers: CSO services 8080-8105" }
    keystone    = { ha_only = false, description = "Keystone servers: identity API 5000" }
    rabbitmq    = { ha_only = false, description = "RabbitMQ servers: AMQPS 5671, management 15671, clustering" }
    rds         = { ha_only = false, description = "RDS MySQL: 3306 from the core servers" }
    efs         = { ha_only = false, description = "EFS mount targets: NFS 2049 from the core servers and the jump server" }
    endpoints   = { ha_only = false, description = "VPC interface endpoints: HTTPS from the VPC" }
    alb         = { ha_only = true, description = "Internet-facing ALB: HTTP/HTTPS from anywhere" }
    backend_alb = { ha_only = true, description = "Internal backend ALB: backend services from the core servers" }
  }
  security_groups = { for k, v in local.all_security_groups : k => v.description if var.ha || !v.ha_only }

  sg_id = { for k, sg in aws_security_group.this : k => sg.id }

  # The matrix of LLD 2.3.1, one described rule per row and port, plus RabbitMQ clustering,
  # AMQPS, EFS and the endpoints. source is a group key, cidr a network (one of the two).
  all_ingress_rules = {
    backend_from_core = {
      sg          = "backend", from = var.backend_ports.from, to = var.backend_ports.to, source = "core", cidr = null, ha_only = false
      description = "Backend API services ${var.backend_ports.from}-${var.backend_ports.to} from the core servers"
    }
    keystone_from_core = {
      sg          = "keystone", from = 5000, to = 5000, source = "core", cidr = null, ha_only = false
      description = "Keystone identity API 5000 from the core servers"
    }
    keystone_memcached_from_keystone = {
      sg          = "keystone", from = 11211, to = 11211, source = "keystone", cidr = null, ha_only = false
      description = "Keystone cache: memcached 11211 between Keystone nodes (one oslo.cache pool)"
    }
    rabbitmq_amqps_from_core = {
      sg          = "rabbitmq", from = 5671, to = 5671, source = "core", cidr = null, ha_only = false
      description = "RabbitMQ AMQP over TLS 5671 from the core servers (LLD 3.4.1)"
    }
    rabbitmq_management_from_core = {
      sg          = "rabbitmq", from = 15671, to = 15671, source = "core", cidr = null, ha_only = false
      description = "RabbitMQ management over TLS 15671 from the core servers"
    }
    # Not in the LLD's matrix: rabbitmq_prometheus's scrape endpoint (plain HTTP), for the
    # jump server only, where the dashboard and any Prometheus run
    # (docs/decisions/check-admin.md).
    rabbitmq_prometheus_from_jump = {
      sg          = "rabbitmq", from = 15692, to = 15692, source = "jump", cidr = null, ha_only = false
      description = "RabbitMQ Prometheus metrics 15692 from the jump server (rabbitmq_prometheus)"
    }
    rabbitmq_epmd_from_rabbitmq = {
      sg          = "rabbitmq", from = 4369, to = 4369, source = "rabbitmq", cidr = null, ha_only = false
      description = "RabbitMQ clustering: epmd 4369 between RabbitMQ nodes"
    }
    rabbitmq_distribution_from_rabbitmq = {
      sg          = "rabbitmq", from = 25672, to = 25672, source = "rabbitmq", cidr = null, ha_only = false
      description = "RabbitMQ clustering: Erlang distribution 25672 between RabbitMQ nodes"
    }
    rds_from_core = {
      sg          = "rds", from = 3306, to = 3306, source = "core", cidr = null, ha_only = false
      description = "MySQL 3306 from the core servers"
    }
    efs_from_core = {
      sg          = "efs", from = 2049, to = 2049, source = "core", cidr = null, ha_only = false
      description = "NFS 2049 from the core servers (LLD 4.1.3)"
    }
    efs_from_jump = {
      sg          = "efs", from = 2049, to = 2049, source = "jump", cidr = null, ha_only = false
      description = "NFS 2049 from the jump server (LLD 4.1.3)"
    }
    endpoints_from_vpc = {
      sg          = "endpoints", from = 443, to = 443, source = null, cidr = var.vpc_cidr, ha_only = false
      description = "HTTPS 443 from the VPC to the SSM interface endpoints (LLD 4.3)"
    }
    # cso check and the admin dashboard run on the jump server and probe every service:
    # the jump carries "core", which reaches every other group; the frontend admits only
    # the ALB, so its nginx and UI ports are opened to the jump for those probes.
    frontend_8102_from_jump = {
      sg          = "frontend", from = 8102, to = 8102, source = "jump", cidr = null, ha_only = false
      description = "CSO frontend nginx 8102 from the jump server (cso check, admin dashboard)"
    }
    frontend_8080_from_jump = {
      sg          = "frontend", from = 8080, to = 8080, source = "jump", cidr = null, ha_only = false
      description = "Frontend management UI 8080 from the jump server (cso check, admin dashboard)"
    }
    frontend_8202_from_jump = {
      sg          = "frontend", from = 8202, to = 8202, source = "jump", cidr = null, ha_only = false
      description = "Frontend portal UI 8202 from the jump server (cso check, admin dashboard)"
    }
    frontend_8102_from_alb = {
      sg          = "frontend", from = 8102, to = 8102, source = "alb", cidr = null, ha_only = true
      description = "CSO frontend 8102 from the internet-facing ALB"
    }
    frontend_443_from_alb = {
      sg          = "frontend", from = 443, to = 443, source = "alb", cidr = null, ha_only = true
      description = "HTTPS 443 from the internet-facing ALB"
    }
    frontend_80_from_alb = {
      sg          = "frontend", from = 80, to = 80, source = "alb", cidr = null, ha_only = true
      description = "HTTP 80 from the internet-facing ALB"
    }
    jump_admin_from_alb = {
      sg          = "jump", from = 8081, to = 8081, source = "alb", cidr = null, ha_only = true
      description = "Jump server admin UI 8081 from the internet-facing ALB"
    }
    keystone_from_alb = {
      sg          = "keystone", from = 5000, to = 5000, source = "alb", cidr = null, ha_only = true
      description = "Keystone 5000 from the internet-facing ALB (/api/idm/* and health checks)"
    }
    backend_from_backend_alb = {
      sg          = "backend", from = var.backend_service_ports.from, to = var.backend_service_ports.to, source = "backend_alb", cidr = null, ha_only = true
      description = "Backend services ${var.backend_service_ports.from}-${var.backend_service_ports.to} from the internal backend ALB"
    }
    backend_alb_from_core = {
      sg          = "backend_alb", from = var.backend_service_ports.from, to = var.backend_service_ports.to, source = "core", cidr = null, ha_only = true
      description = "Backend service listeners ${var.backend_service_ports.from}-${var.backend_service_ports.to} from the core servers"
    }
  }
  # Direct access to the admin UI from the operators' networks (VPN, peering), one rule per
  # network, keyed by the network so that reordering the list replaces nothing. The ALB
  # path (/admin/*) is gated by Cognito instead (docs/decisions/terraform.md).
  jump_access_rules = {
    for c in var.jump_server_access_cidrs : "jump_admin_from_${c}" => {
      sg          = "jump", from = 8081, to = 8081, source = null, cidr = c, ha_only = false
      description = "Jump server admin UI 8081 directly from ${c} (jump_server_access_cidrs: VPN or peering)"
    }
  }
  ingress_rules = { for k, v in merge(local.all_ingress_rules, local.jump_access_rules) : k => v if var.ha || !v.ha_only }

  # Egress between groups and inside the VPC; egress to the internet is declared separately
  # below, each with its reason.
  all_egress_rules = {
    core_to_vpc = {
      sg          = "core", protocol = "-1", from = null, to = null, destination = null, cidr = var.vpc_cidr, ha_only = false
      description = "All traffic inside the VPC: hosts, endpoints, EFS, RDS, the VPC DNS resolver"
    }
    alb_to_frontend = {
      sg          = "alb", protocol = "tcp", from = 8102, to = 8102, destination = "frontend", cidr = null, ha_only = true
      description = "To the frontend target group 8102"
    }
    alb_to_keystone = {
      sg          = "alb", protocol = "tcp", from = 5000, to = 5000, destination = "keystone", cidr = null, ha_only = true
      description = "To the keystone target group 5000"
    }
    alb_to_jump = {
      sg          = "alb", protocol = "tcp", from = 8081, to = 8081, destination = "jump", cidr = null, ha_only = true
      description = "To the jump server admin target group 8081"
    }
    backend_alb_to_backend = {
      sg          = "backend_alb", protocol = "tcp", from = var.backend_service_ports.from, to = var.backend_service_ports.to, destination = "backend", cidr = null, ha_only = true
      description = "To the backend service target groups"
    }
  }
  egress_rules = { for k, v in local.all_egress_rules : k => v if var.ha || !v.ha_only }
}

# ---------------------------------------------------------------------------------------
# Security groups
# ---------------------------------------------------------------------------------------

resource "aws_security_group" "this" {
  for_each = local.security_groups

  name        = "${var.environment}-${replace(each.key, "_", "-")}"
  description = each.value
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.environment}-${replace(each.key, "_", "-")}" })
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules

  security_group_id            = local.sg_id[each.value.sg]
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
  referenced_security_group_id = each.value.source == null ? null : local.sg_id[each.value.source]
  cidr_ipv4                    = each.value.cidr

  tags = merge(var.tags, { Name = each.key })
}

# LLD 4.1.1: the ALB is the only thing reachable from the internet, on 80 (redirected to
# 443) and 443.
#tfsec:ignore:aws-ec2-no-public-ingress-sgr The internet-facing ALB must accept HTTP (redirect only) from anywhere.
resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  count = var.ha ? 1 : 0

  security_group_id = local.sg_id["alb"]
  description       = "HTTP 80 from anywhere, redirected to HTTPS 443"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(var.tags, { Name = "alb_http_from_internet" })
}

#tfsec:ignore:aws-ec2-no-public-ingress-sgr The internet-facing ALB serves the portal over HTTPS to its users, behind Cognito.
resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  count = var.ha ? 1 : 0

  security_group_id = local.sg_id["alb"]
  description       = "HTTPS 443 from anywhere (Cognito authentication on every route)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(var.tags, { Name = "alb_https_from_internet" })
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = local.egress_rules

  security_group_id            = local.sg_id[each.value.sg]
  description                  = each.value.description
  ip_protocol                  = each.value.protocol
  from_port                    = each.value.from
  to_port                      = each.value.to
  referenced_security_group_id = each.value.destination == null ? null : local.sg_id[each.value.destination]
  cidr_ipv4                    = each.value.cidr

  tags = merge(var.tags, { Name = each.key })
}

#tfsec:ignore:aws-ec2-no-public-egress-sgr Hosts reach AWS APIs (S3, Secrets Manager, CloudWatch) and the Amazon Linux repositories over HTTPS through the NAT gateways.
resource "aws_vpc_security_group_egress_rule" "core_https" {
  security_group_id = local.sg_id["core"]
  description       = "HTTPS 443 to AWS APIs and package repositories through the NAT gateways"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(var.tags, { Name = "core_https_to_internet" })
}

#tfsec:ignore:aws-ec2-no-public-egress-sgr The ALB calls Cognito's token and user-info endpoints over HTTPS to authenticate users.
resource "aws_vpc_security_group_egress_rule" "alb_cognito" {
  count = var.ha ? 1 : 0

  security_group_id = local.sg_id["alb"]
  description       = "HTTPS 443 to the Cognito token and user-info endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(var.tags, { Name = "alb_https_to_cognito" })
}

# ---------------------------------------------------------------------------------------
# KMS: one customer-managed key for EFS, RDS, S3, Secrets Manager, EBS, logs and SNS.
# ---------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${var.environment} CSO platform: EFS, RDS, S3, Secrets Manager, EBS, CloudWatch Logs, SNS"
  enable_key_rotation     = true
  deletion_window_in_days = var.prod ? 30 : 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "${local.arn_prefix}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptsTheEnvironmentsLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "${local.arn_prefix}:logs:${var.region}:${var.account_id}:log-group:*" }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = var.account_id }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.environment}-cso" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.environment}-cso"
  target_key_id = aws_kms_key.this.key_id
}

# ---------------------------------------------------------------------------------------
# IAM: one instance role per host role (LLD 2.3.2 has one for every host: a departure
# recorded in docs/decisions/terraform.md)
# ---------------------------------------------------------------------------------------

locals {
  host_roles = toset(["jump", "keystone", "rabbitmq", "frontend", "backend"])

  # Every secret the hosts may read, <env>/cso/<service>/<name> => ARN: the service
  # secrets below and the database users' secrets (module database).
  readable_secrets = merge(
    { for k, s in aws_secretsmanager_secret.service : k => s.arn },
    { for k, arn in var.database_user_secret_arns : "database/${k}" => arn },
  )

  # Which roles read each secret: the service that owns the credential and its clients,
  # as the agents and `cso check` use them (internal/agent/secrets.go SecretID). A secret
  # not listed here is read by the jump server alone (e.g. the automation identity).
  secret_readers = {
    "keystone/admin"         = ["jump", "keystone"]
    "rabbitmq/ssp_user"      = ["jump", "keystone", "rabbitmq", "frontend", "backend"]
    "rabbitmq/erlang-cookie" = ["rabbitmq"]
    "database/keystone"      = ["jump", "keystone"]
    "database/cso_portal"    = ["jump", "frontend", "backend"]
    # The application's bindings (internal/apppkg): its services' database user and
    # Keystone identity; the jump role creates both.
    "keystone/application" = ["jump", "frontend", "backend"]
  }

  role_secret_arns = {
    for role in local.host_roles : role => sort([
      for name, arn in local.readable_secrets : arn if contains(lookup(local.secret_readers, name, ["jump"]), role)
    ])
  }

  # Each host's own grants: its TLS secret and its status document. Per host, not per
  # role: every host of a role shares the role, so the statement names the host's
  # instance (aws:userid is "<role id>:<instance id>" for instance-profile credentials).
  role_instances = {
    for role in local.host_roles : role => { for h, i in var.instances : h => i.id if i.role == role }
  }
}

resource "aws_iam_role" "host" {
  for_each = local.host_roles

  name        = "${var.environment}-cso-${each.key}"
  description = "CSO ${each.key} hosts of ${var.environment}: SSM, CloudWatch agent, the environment's bucket and the secrets of the ${each.key} role."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Action    = "sts:AssumeRole"
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })

  tags = merge(var.tags, { Role = each.key })
}

resource "aws_iam_instance_profile" "host" {
  for_each = local.host_roles

  name = "${var.environment}-cso-${each.key}"
  role = aws_iam_role.host[each.key].name

  tags = merge(var.tags, { Role = each.key })
}

# Least privilege per role: read the environment's bucket and the secrets of local.
# secret_readers (never the CA key under <env>/cso-pki/, never another host's TLS key),
# the RDS master secret for the jump server only, and decrypt; the CloudWatch agent's
# metrics (namespace CWAgent) and the environment's host log groups (in place of
# CloudWatchAgentServerPolicy, which allows every log group and parameter).
#tfsec:ignore:aws-iam-no-policy-wildcards Object ARNs end in wildcards by nature (objects of one bucket); RDS names its master secret rds!db-<uuid>, narrowed by its tag.
resource "aws_iam_policy" "host" {
  for_each = local.host_roles

  name        = "${var.environment}-cso-${each.key}"
  description = "CSO ${each.key} hosts of ${var.environment}: read ${var.cso_files_bucket_arn} and the ${each.key} role's secrets."

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ListTheEnvironmentsBucket"
          Effect   = "Allow"
          Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
          Resource = var.cso_files_bucket_arn
        },
        {
          Sid      = "ReadTheEnvironmentsFiles"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectVersion"]
          Resource = "${var.cso_files_bucket_arn}/*"
        },
      ],
      length(local.role_secret_arns[each.key]) == 0 ? [] : [{
        Sid      = "ReadTheRolesSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = local.role_secret_arns[each.key]
      }],
      each.key != "jump" ? [] : [{
        # The scheduled backups (cso backup, the jump server's agent timer): artefacts under
        # backups/ (the bucket policy denies that prefix to every other host role) and
        # retention deleting old ones.
        Sid      = "WriteTheBackups"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = "${var.cso_files_bucket_arn}/backups/*"
      }],
      !contains(["frontend", "backend"], each.key) ? [] : [{
        # The application hosts restart their running services one host at a time (a
        # binding's secret or certificate changed): each takes the restart lease, one
        # object written with S3's conditional writes (internal/lease, docs/decisions/cli.md).
        Sid      = "TakeTheApplicationRestartLease"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = "${var.cso_files_bucket_arn}/locks/app-restart.json"
      }],
      each.key != "jump" ? [] : [{
        # ... the RDS snapshot of each backup (cso-<env>-<id>), and retention deleting it.
        Sid    = "SnapshotTheDatabase"
        Effect = "Allow"
        Action = ["rds:CreateDBSnapshot", "rds:AddTagsToResource", "rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot"]
        Resource = [
          var.db_instance_arn,
          "${local.arn_prefix}:rds:${var.region}:${var.account_id}:snapshot:cso-${var.environment}-*",
        ]
      }],
      each.key != "jump" ? [] : [{
        # Only the jump server bootstraps the databases with the RDS master user.
        Sid      = "ReadTheDatabaseMasterSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = "${local.arn_prefix}:secretsmanager:${var.region}:${var.account_id}:secret:rds!db-*"
        Condition = {
          StringEquals = { "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn" = var.db_instance_arn }
        }
      }],
      [
        {
          # The CloudWatch agent (internal/cwagent) publishes the memory and disk metrics of
          # the host alarms. PutMetricData has no resource type: the namespace condition is
          # what narrows it.
          Sid       = "PublishTheAgentsMetrics"
          Effect    = "Allow"
          Action    = ["cloudwatch:PutMetricData"]
          Resource  = "*"
          Condition = { StringEquals = { "cloudwatch:namespace" = "CWAgent" } }
        },
        {
          # ... and ships the host logs into the groups Terraform made (it creates none).
          Sid      = "ShipTheHostsLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
          Resource = flatten([for arn in sort(var.host_log_group_arns) : [arn, "${arn}:log-stream:*"]])
        },
        {
          # Decrypt what the hosts read; GenerateDataKey for the SSE-KMS status writes.
          Sid      = "UseTheEnvironmentsKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"]
          Resource = aws_kms_key.this.arn
        },
      ],
    )
  })

  tags = merge(var.tags, { Role = each.key })
}

# What only one host of a role may do: read its own TLS secret (certificate and private
# key) and write its own status document status/<host>.json. aws:userid of an instance
# profile's credentials ends in the instance id (docs/decisions/terraform.md), so each
# statement names the host's instance; another host of the same role does not match.
# It names the instances, so it is applied after them: an agent that starts before it
# waits for its TLS secret (agent.HostTLSWait) and retries its status.
resource "aws_iam_role_policy" "own_host" {
  for_each = { for role, hosts in local.role_instances : role => hosts if length(hosts) > 0 }

  name = "${var.environment}-cso-${each.key}-own-host"
  role = aws_iam_role.host[each.key].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = flatten([
      for h in sort(keys(each.value)) : [
        {
          Sid       = "ReadOwnTLS${replace(title(h), "-", "")}"
          Effect    = "Allow"
          Action    = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
          Resource  = aws_secretsmanager_secret.host_tls[h].arn
          Condition = { StringLike = { "aws:userid" = "*:${each.value[h]}" } }
        },
        {
          Sid       = "WriteOwnStatus${replace(title(h), "-", "")}"
          Effect    = "Allow"
          Action    = ["s3:PutObject"]
          Resource  = "${var.cso_files_bucket_arn}/status/${h}.json"
          Condition = { StringLike = { "aws:userid" = "*:${each.value[h]}" } }
        },
      ]
    ])
  })
}

# Scheduled certificate renewal (issue #13, docs/decisions/terraform.md): the jump server's
# agent timer re-issues a host's certificate inside its renewal window. It reads every
# host's TLS secret (to see the certificate's expiry and names), the root CA's key (into
# memory, only for a run that must issue) and writes a new version of the TLS secrets. No
# other role reads the CA key or writes a TLS secret. Its own policy, not the role policy
# above: that one never names the CA key or a TLS secret.
resource "aws_iam_role_policy" "jump_certificate_renewal" {
  name = "${var.environment}-cso-jump-certificate-renewal"
  role = aws_iam_role.host["jump"].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheRootCA"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = aws_secretsmanager_secret.root_ca.arn
      },
      {
        Sid      = "RenewTheHostCertificates"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
        Resource = [for h in sort(keys(var.hosts)) : aws_secretsmanager_secret.host_tls[h].arn]
      },
      {
        # Decrypt the CA and the TLS secrets, encrypt their new versions: through Secrets
        # Manager only (the role policy's direct grant may be narrowed; this one stays).
        Sid       = "UseTheKeyThroughSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = aws_kms_key.this.arn
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" } }
      },
    ]
  })
}

# The admin dashboard on the jump server shows each host's logs (/admin/logs, as `cso logs
# --env`): it reads the groups the hosts ship to, and only those. CloudWatch Logs decrypts
# the KMS-encrypted events itself (the key policy's grant to the logs service): no kms
# grant here.
resource "aws_iam_role_policy" "jump_host_logs" {
  name = "${var.environment}-cso-jump-host-logs"
  role = aws_iam_role.host["jump"].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadTheHostsLogs"
        Effect   = "Allow"
        Action   = ["logs:FilterLogEvents"]
        Resource = sort(var.host_log_group_arns) # the log-group resource type of FilterLogEvents: arn:...:log-group:<name>
      },
    ]
  })
}

locals {
  host_policies = {
    ssm_core  = "${local.arn_prefix}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    ssm_patch = "${local.arn_prefix}:iam::aws:policy/AmazonSSMPatchAssociation"
  }
  host_policy_attachments = merge([
    for role in local.host_roles : { for k, arn in local.host_policies : "${role}/${k}" => { role = role, arn = arn } }
  ]...)
}

resource "aws_iam_role_policy_attachment" "host_managed" {
  for_each = local.host_policy_attachments

  role       = aws_iam_role.host[each.value.role].name
  policy_arn = each.value.arn
}

resource "aws_iam_role_policy_attachment" "host_custom" {
  for_each = local.host_roles

  role       = aws_iam_role.host[each.key].name
  policy_arn = aws_iam_policy.host[each.key].arn
}

# ---------------------------------------------------------------------------------------
# Generated service secrets (no password literal anywhere; docs/decisions/terraform.md)
# ---------------------------------------------------------------------------------------

# Letters and digits only: these passwords end up in URLs (rabbit://user:pass@host) and
# ini files; 32 characters of [A-Za-z0-9] carry about 190 bits.
resource "random_password" "service" {
  for_each = toset(["rabbitmq_ssp_user", "keystone_admin", "keystone_automation", "keystone_application", "erlang_cookie"])

  length      = 32
  special     = false
  min_upper   = 2
  min_lower   = 2
  min_numeric = 2
}

locals {
  service_secrets = {
    "rabbitmq/ssp_user" = {
      description = "RabbitMQ application user ssp_user (vhost ssp)"
      value       = { username = "ssp_user", password = random_password.service["rabbitmq_ssp_user"].result, vhost = "ssp" }
    }
    "keystone/admin" = {
      description = "Keystone bootstrap admin user"
      value       = { username = "admin", password = random_password.service["keystone_admin"].result, project = "admin", domain = "Default" }
    }
    # Read by the jump role only: it creates this identity and runs cso check.
    "keystone/automation" = {
      description = "Keystone automation user cso-automation (reader, never locked out)"
      value       = { username = "cso-automation", password = random_password.service["keystone_automation"].result, project = "admin", domain = "Default" }
    }
    # The application's own identity: the jump role creates it, the application's hosts
    # hand it to their services (keystone binding, docs/application-packages.md).
    "keystone/application" = {
      description = "Keystone user cso-application of the application's services (role service: validates users' tokens)"
      value       = { username = "cso-application", password = random_password.service["keystone_application"].result, project = "admin", domain = "Default" }
    }
    "rabbitmq/erlang-cookie" = {
      description = "Erlang cookie shared by the RabbitMQ nodes"
      value       = { cookie = random_password.service["erlang_cookie"].result }
    }
  }
}

resource "aws_secretsmanager_secret" "service" {
  for_each = local.service_secrets

  name                    = "${var.environment}/cso/${each.key}"
  description             = "${var.environment}: ${each.value.description}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.prod ? 30 : 0

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "service" {
  for_each = local.service_secrets

  secret_id     = aws_secretsmanager_secret.service[each.key].id
  secret_string = jsonencode(each.value.value)
}

# ---------------------------------------------------------------------------------------
# PKI (LLD 2.3.3): root CA and one server certificate per host. Private keys go to
# Secrets Manager only.
# ---------------------------------------------------------------------------------------

resource "tls_private_key" "root_ca" {
  algorithm = "RSA"
  rsa_bits  = 4096
}

resource "tls_self_signed_cert" "root_ca" {
  private_key_pem       = tls_private_key.root_ca.private_key_pem
  validity_period_hours = 30 * 365 * 24
  is_ca_certificate     = true
  set_subject_key_id    = true
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature"]

  subject {
    organization = "DXC"
    common_name  = "${var.environment} DXC SSP Root CA"
  }
}

resource "tls_private_key" "host" {
  for_each = var.hosts

  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_cert_request" "host" {
  for_each = var.hosts

  private_key_pem = tls_private_key.host[each.key].private_key_pem
  dns_names       = each.value.dns_names

  subject {
    organization = "DXC"
    common_name  = each.value.fqdn
  }
}

resource "tls_locally_signed_cert" "host" {
  for_each = var.hosts

  cert_request_pem      = tls_cert_request.host[each.key].cert_request_pem
  ca_private_key_pem    = tls_private_key.root_ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.root_ca.cert_pem
  validity_period_hours = var.certificate_validity_hours
  early_renewal_hours   = var.certificate_early_renewal_hours
  set_subject_key_id    = true
  # client_auth too: RabbitMQ nodes and Keystone's database/AMQP clients present them.
  allowed_uses = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
}

resource "aws_secretsmanager_secret" "host_tls" {
  for_each = var.hosts

  name                    = "${var.environment}/cso/tls/${each.key}"
  description             = "${var.environment}: TLS certificate, private key and CA certificate of ${each.value.fqdn}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.prod ? 30 : 0

  tags = merge(var.tags, { Host = each.key })
}

resource "aws_secretsmanager_secret_version" "host_tls" {
  for_each = var.hosts

  secret_id = aws_secretsmanager_secret.host_tls[each.key].id
  secret_string = jsonencode({
    certificate    = tls_locally_signed_cert.host[each.key].cert_pem
    private_key    = tls_private_key.host[each.key].private_key_pem
    ca_certificate = tls_self_signed_cert.root_ca.cert_pem
    dns_names      = each.value.dns_names
  })

  # Terraform seeds the first pair; later ones are the jump server's (scheduled renewal,
  # internal/roles/jump renew.go), so an apply must not roll a renewed certificate back to
  # this older one. A new root CA replaces every host's pair at once: the hosts then move
  # to the new CA together instead of one by one at their renewals.
  lifecycle {
    ignore_changes       = [secret_string]
    replace_triggered_by = [tls_self_signed_cert.root_ca]
  }
}

# The CA key stays outside <env>/cso/, so no host role can read it.
resource "aws_secretsmanager_secret" "root_ca" {
  name                    = "${var.environment}/cso-pki/root-ca"
  description             = "${var.environment}: root CA certificate and private key (operators only)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.prod ? 30 : 0

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "root_ca" {
  secret_id = aws_secretsmanager_secret.root_ca.id
  secret_string = jsonencode({
    certificate = tls_self_signed_cert.root_ca.cert_pem
    private_key = tls_private_key.root_ca.private_key_pem
  })
}
