# Compute (LLD 2.4): one instance per host name, sized by role, with the bootstrap user data,
# and their target group attachments when ha.

data "aws_ssm_parameter" "al2023" {
  name = var.ami_ssm_parameter
}

locals {
  jump_hosts  = { for k, h in var.hosts : k => h if h.role == "jump" }
  other_hosts = { for k, h in var.hosts : k => h if h.role != "jump" }
  instances   = merge(aws_instance.this, aws_instance.jump)

  # The EFS mounts of each role: its access points, read-only where the role only reads
  # (the file system policy refuses its writes anyway). Sorted by mount path, so that the
  # rendered user data does not churn and a parent is mounted before a path inside it.
  mounts_by_path = { for k, ap in var.access_points : ap.mount_path => ap }
  efs_mounts = {
    for role in ["jump", "keystone", "rabbitmq", "frontend", "backend"] : role => [
      for path in sort(keys(local.mounts_by_path)) : {
        file_system_id  = local.mounts_by_path[path].file_system_id
        access_point_id = local.mounts_by_path[path].id
        mount_path      = path
        read_only       = !contains(local.mounts_by_path[path].writers, role)
      } if contains(concat(local.mounts_by_path[path].writers, local.mounts_by_path[path].readers), role)
    ]
  }

  # Target group key -> role of the hosts it serves.
  target_group_role = { for k in keys(var.target_groups) : k => startswith(k, "be-") ? "backend" : k }

  # What every host's user data gets; host, role, index and db_master_secret differ.
  user_data_vars = {
    environment    = var.environment
    account_id     = var.account_id
    region         = var.region
    bucket         = var.files_bucket
    cso_binary_key = var.cso_binary_key
    # AWS's CA bundle for RDS in every commercial region (docs/decisions/roles.md).
    rds_ca_bundle_url = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
  }

  attachments = merge([
    for tg, role in local.target_group_role : {
      for host, h in var.hosts : "${tg}/${host}" => {
        target_group_arn = var.target_groups[tg].arn
        port             = var.target_groups[tg].port
        host             = host
      } if h.role == role
    }
  ]...)
}

# The jump server and the other hosts are two resources: Terraform orders resources, not
# instances of one resource, so one for_each over every host would make every host wait
# for what the jump server's user data references (the RDS master secret, that is the
# Multi-AZ database). The other hosts boot, update and install while RDS is created; their
# agents wait for the jump server's work (agent.PeerWaitEC2).
resource "aws_instance" "this" {
  for_each = local.other_hosts

  ami                    = data.aws_ssm_parameter.al2023.insecure_value
  instance_type          = each.value.instance_type
  availability_zone      = each.value.availability_zone
  subnet_id              = var.subnet_ids[each.value.availability_zone]
  vpc_security_group_ids = [var.security_group_ids["core"], var.security_group_ids[each.value.role]]
  iam_instance_profile   = var.instance_profile_names[each.value.role]
  monitoring             = true

  # No reference to the database here: these hosts boot while RDS is being created.
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", merge(local.user_data_vars, {
    host             = each.key
    role             = each.value.role
    index            = each.value.index
    efs_mounts       = local.efs_mounts[each.value.role]
    db_master_secret = ""
  }))

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = var.kms_key_arn
    delete_on_termination = true

    tags = merge(var.tags, { Name = "${each.key}-root" })
  }

  tags = merge(var.tags, {
    Name  = each.key
    Role  = each.value.role
    Index = tostring(each.value.index)
    Fqdn  = each.value.fqdn
  })

  lifecycle {
    # A newer Amazon Linux image must not replace running hosts; `cso replace` does that
    # host by host.
    ignore_changes = [ami]
  }
}

# The jump server repeats aws_instance.this on purpose: Terraform's dependencies are per
# resource, so a database reference in one shared resource would make every host wait for
# RDS (test/terraform deploy_order asserts that only this one does).
resource "aws_instance" "jump" {
  for_each = local.jump_hosts

  ami                    = data.aws_ssm_parameter.al2023.insecure_value
  instance_type          = each.value.instance_type
  availability_zone      = each.value.availability_zone
  subnet_id              = var.subnet_ids[each.value.availability_zone]
  vpc_security_group_ids = [var.security_group_ids["core"], var.security_group_ids[each.value.role]]
  iam_instance_profile   = var.instance_profile_names[each.value.role]
  monitoring             = true

  # Only the jump server bootstraps the databases with the RDS master user, so only it
  # waits for the database (the secret ARN exists once RDS created the instance).
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", merge(local.user_data_vars, {
    host             = each.key
    role             = each.value.role
    index            = each.value.index
    efs_mounts       = local.efs_mounts[each.value.role]
    db_master_secret = var.database_master_secret_arn != null ? var.database_master_secret_arn : ""
  }))

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = var.kms_key_arn
    delete_on_termination = true

    tags = merge(var.tags, { Name = "${each.key}-root" })
  }

  tags = merge(var.tags, {
    Name  = each.key
    Role  = each.value.role
    Index = tostring(each.value.index)
    Fqdn  = each.value.fqdn
  })

  lifecycle {
    # A newer Amazon Linux image must not replace running hosts; `cso replace` does that
    # host by host.
    ignore_changes = [ami]
  }
}

# Jump servers were in aws_instance.this before it was split.
moved {
  from = aws_instance.this["jump-server-1"]
  to   = aws_instance.jump["jump-server-1"]
}

resource "aws_lb_target_group_attachment" "this" {
  for_each = local.attachments

  target_group_arn = each.value.target_group_arn
  target_id        = local.instances[each.value.host].id
  port             = each.value.port
}
