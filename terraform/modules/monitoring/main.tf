# Monitoring (LLD 6.1, 9.5): CloudWatch alarms at the thresholds of 9.5.2 to one encrypted
# SNS topic subscribed by admin_email.
#
# Memory and disk come from the CloudWatch agent (namespace CWAgent) which every host runs
# (internal/cwagent) with append_dimensions {InstanceId} and, for disk, resources ["/"] and
# drop_device: the alarms' dimensions are InstanceId, and InstanceId+path+fstype (see
# README.md; test/terraform checks the agent's configuration against these alarms).

locals {
  t = var.thresholds

  host_metrics = {
    cpu-critical = {
      namespace = "AWS/EC2", metric = "CPUUtilization", stat = "Average", severity = "critical"
      threshold = local.t.cpu_critical_percent, period = 60, periods = local.t.cpu_critical_minutes, extra = {}
      what      = "CPU above ${local.t.cpu_critical_percent}% for ${local.t.cpu_critical_minutes} minutes"
    }
    cpu-warning = {
      namespace = "AWS/EC2", metric = "CPUUtilization", stat = "Average", severity = "warning"
      threshold = local.t.cpu_warning_percent, period = 60, periods = local.t.cpu_warning_minutes, extra = {}
      what      = "CPU above ${local.t.cpu_warning_percent}% for ${local.t.cpu_warning_minutes} minutes"
    }
    memory-critical = {
      namespace = "CWAgent", metric = "mem_used_percent", stat = "Average", severity = "critical"
      threshold = local.t.memory_critical_percent, period = 60, periods = local.t.memory_critical_minutes, extra = {}
      what      = "memory above ${local.t.memory_critical_percent}% for ${local.t.memory_critical_minutes} minutes"
    }
    memory-warning = {
      namespace = "CWAgent", metric = "mem_used_percent", stat = "Average", severity = "warning"
      threshold = local.t.memory_warning_percent, period = 60, periods = local.t.memory_warning_minutes, extra = {}
      what      = "memory above ${local.t.memory_warning_percent}% for ${local.t.memory_warning_minutes} minutes"
    }
    disk-critical = {
      namespace = "CWAgent", metric = "disk_used_percent", stat = "Maximum", severity = "critical"
      threshold = local.t.disk_critical_percent, period = 300, periods = 1, extra = { path = "/", fstype = "xfs" }
      what      = "root file system above ${local.t.disk_critical_percent}% used"
    }
    disk-warning = {
      namespace = "CWAgent", metric = "disk_used_percent", stat = "Maximum", severity = "warning"
      threshold = local.t.disk_warning_percent, period = 300, periods = 1, extra = { path = "/", fstype = "xfs" }
      what      = "root file system above ${local.t.disk_warning_percent}% used"
    }
  }

  host_alarms = merge([
    for host, i in var.instances : {
      for name, m in local.host_metrics : "${host}-${name}" => merge(m, { host = host, instance_id = i.id })
    }
  ]...)

  gib = 1024 * 1024 * 1024

  rds_alarms = {
    cpu-critical = {
      metric    = "CPUUtilization", stat = "Average", severity = "critical", comparison = "GreaterThanThreshold"
      threshold = local.t.cpu_critical_percent, period = 60, periods = local.t.cpu_critical_minutes
      what      = "CPU above ${local.t.cpu_critical_percent}% for ${local.t.cpu_critical_minutes} minutes"
    }
    cpu-warning = {
      metric    = "CPUUtilization", stat = "Average", severity = "warning", comparison = "GreaterThanThreshold"
      threshold = local.t.cpu_warning_percent, period = 60, periods = local.t.cpu_warning_minutes
      what      = "CPU above ${local.t.cpu_warning_percent}% for ${local.t.cpu_warning_minutes} minutes"
    }
    connections-critical = {
      metric    = "DatabaseConnections", stat = "Maximum", severity = "critical", comparison = "GreaterThanThreshold"
      threshold = floor(var.rds.max_connections * local.t.db_connections_critical_percent / 100), period = 300, periods = 1
      what      = "connections above ${local.t.db_connections_critical_percent}% of max_connections (${var.rds.max_connections})"
    }
    connections-warning = {
      metric    = "DatabaseConnections", stat = "Maximum", severity = "warning", comparison = "GreaterThanThreshold"
      threshold = floor(var.rds.max_connections * local.t.db_connections_warning_percent / 100), period = 300, periods = 1
      what      = "connections above ${local.t.db_connections_warning_percent}% of max_connections (connection pool utilization)"
    }
    free-storage-critical = {
      metric    = "FreeStorageSpace", stat = "Minimum", severity = "critical", comparison = "LessThanThreshold"
      threshold = var.rds.allocated_storage * local.gib * (100 - local.t.db_storage_used_critical_percent) / 100, period = 300, periods = 1
      what      = "storage more than ${local.t.db_storage_used_critical_percent}% used (of the initial ${var.rds.allocated_storage} GiB)"
    }
    free-storage-warning = {
      metric    = "FreeStorageSpace", stat = "Minimum", severity = "warning", comparison = "LessThanThreshold"
      threshold = var.rds.allocated_storage * local.gib * (100 - local.t.db_storage_used_warning_percent) / 100, period = 300, periods = 1
      what      = "storage more than ${local.t.db_storage_used_warning_percent}% used (of the initial ${var.rds.allocated_storage} GiB)"
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.environment}-cso-alarms"
  display_name      = "${var.environment} CSO alarms"
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "admin_email" {
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.admin_email
}

resource "aws_cloudwatch_metric_alarm" "host" {
  for_each = local.host_alarms

  alarm_name          = "${var.environment}-${each.key}"
  alarm_description   = "[${upper(each.value.severity)}] ${each.value.host}: ${each.value.what} (LLD 9.5.2)"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.stat
  dimensions          = merge({ InstanceId = each.value.instance_id }, each.value.extra)
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.periods
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Severity = each.value.severity, Host = each.value.host })
}

resource "aws_cloudwatch_metric_alarm" "rds" {
  for_each = local.rds_alarms

  alarm_name          = "${var.environment}-rds-${each.key}"
  alarm_description   = "[${upper(each.value.severity)}] ${var.rds.identifier}: ${each.value.what} (LLD 9.5.2, 9.2.3)"
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = each.value.stat
  dimensions          = { DBInstanceIdentifier = var.rds.identifier }
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.periods
  datapoints_to_alarm = each.value.periods
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Severity = each.value.severity })
}

# EFS: I/O limit of General Purpose mode, and throughput against what is provisioned
# ("EFS throughput > 80% of provisioned", LLD 9.5.2).
resource "aws_cloudwatch_metric_alarm" "efs_io_limit" {
  for_each = var.file_systems

  alarm_name          = "${var.environment}-efs-${each.key}-io-limit-warning"
  alarm_description   = "[WARNING] EFS ${each.key}: PercentIOLimit above ${local.t.efs_io_limit_warning_percent}% for 10 minutes (LLD 9.5.2)"
  namespace           = "AWS/EFS"
  metric_name         = "PercentIOLimit"
  statistic           = "Maximum"
  dimensions          = { FileSystemId = each.value.id }
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.t.efs_io_limit_warning_percent
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Severity = "warning" })
}

resource "aws_cloudwatch_metric_alarm" "efs_throughput" {
  for_each = var.file_systems

  alarm_name          = "${var.environment}-efs-${each.key}-throughput-warning"
  alarm_description   = "[WARNING] EFS ${each.key}: throughput above ${local.t.efs_throughput_warning_percent}% of the provisioned ${each.value.throughput_mibps} MiB/s for 10 minutes (LLD 9.5.2)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.t.efs_throughput_warning_percent
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "io"
    return_data = false

    metric {
      namespace   = "AWS/EFS"
      metric_name = "MeteredIOBytes"
      stat        = "Sum"
      period      = 300
      dimensions  = { FileSystemId = each.value.id }
    }
  }

  metric_query {
    id          = "utilization"
    label       = "Percent of provisioned throughput"
    expression  = "100 * (io / PERIOD(io)) / (${each.value.throughput_mibps} * 1048576)"
    return_data = true
  }

  tags = merge(var.tags, { Severity = "warning" })
}

# ALB: a target group with an unhealthy host (warning) or with no healthy host (critical).
resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  for_each = var.target_groups

  alarm_name          = "${var.environment}-tg-${each.key}-unhealthy-warning"
  alarm_description   = "[WARNING] target group ${each.key}: at least one unhealthy host for 5 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  dimensions          = { TargetGroup = each.value.arn_suffix, LoadBalancer = each.value.lb_arn_suffix }
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Severity = "warning" })
}

resource "aws_cloudwatch_metric_alarm" "no_healthy_hosts" {
  for_each = var.target_groups

  alarm_name          = "${var.environment}-tg-${each.key}-no-healthy-critical"
  alarm_description   = "[CRITICAL] target group ${each.key}: no healthy host for 2 minutes"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  dimensions          = { TargetGroup = each.value.arn_suffix, LoadBalancer = each.value.lb_arn_suffix }
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = merge(var.tags, { Severity = "critical" })
}

# "Network errors > 1% of requests" (LLD 9.5.2): 5XX answers of the internet-facing ALB
# and its targets over all requests.
resource "aws_cloudwatch_metric_alarm" "request_errors" {
  count = var.ha ? 1 : 0

  alarm_name          = "${var.environment}-alb-error-rate-warning"
  alarm_description   = "[WARNING] internet-facing ALB: 5XX above ${local.t.request_error_rate_warning_percent}% of requests for 10 minutes (LLD 9.5.2)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.t.request_error_rate_warning_percent
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "requests"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      stat        = "Sum"
      period      = 300
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  metric_query {
    id          = "elb5xx"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      stat        = "Sum"
      period      = 300
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  metric_query {
    id          = "target5xx"
    return_data = false

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      stat        = "Sum"
      period      = 300
      dimensions  = { LoadBalancer = var.load_balancer_arn_suffix }
    }
  }

  metric_query {
    id          = "error_rate"
    label       = "5XX percent of requests"
    expression  = "IF(requests > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)"
    return_data = true
  }

  tags = merge(var.tags, { Severity = "warning" })
}
