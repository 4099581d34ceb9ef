output "sns_topic_arn" {
  description = "ARN of the alarm topic."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm, sorted."
  value = sort(concat(
    [for a in aws_cloudwatch_metric_alarm.host : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.rds : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.efs_io_limit : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.efs_throughput : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.unhealthy_hosts : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.no_healthy_hosts : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.request_errors : a.alarm_name],
  ))
}

output "log_group_arns" {
  description = "ARNs of the hosts' log groups (/cso/<env>/<log>), keyed by log name."
  value       = { for k, g in aws_cloudwatch_log_group.host : k => g.arn }
}

output "target_group_alarm_names" {
  description = "Name of each target group's no-healthy-host alarm, keyed by target group (the dns module's Route 53 health checks follow them)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.no_healthy_hosts : k => a.alarm_name }
}
