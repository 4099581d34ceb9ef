# Host logs (LLD 6.2) that the CloudWatch agent ships from every host (internal/cwagent):
# one log group per log, /cso/<env>/<log>, one stream per host, encrypted with the
# environment's key and kept retention_in_days. test/terraform checks that these names
# are exactly the groups the agent's configuration of each host writes to.

locals {
  host_logs = {
    setup                = "/var/log/cso-setup.log: the user data that installs cso and runs the agent"
    cloud-init           = "/var/log/cloud-init-output.log: instance initialization"
    agent                = "/var/log/<role>-setup-progress.log: progress of cso agent"
    efs-s3-sync          = "jump: /var/log/efs-s3-sync.log, the bucket-to-EFS copy"
    admin                = "jump: /var/log/cso/cso-admin.log, the admin dashboard (cso admin serve)"
    keystone             = "keystone: /var/log/keystone/keystone.log"
    keystone-httpd       = "keystone: /var/log/httpd/keystone.log, Apache's access log"
    keystone-httpd-error = "keystone: /var/log/httpd/keystone-error.log, Apache's error log"
    rabbitmq             = "rabbitmq: /var/log/rabbitmq/<node>.log"
    nginx-access         = "frontend: /var/log/nginx/access.log"
    nginx-error          = "frontend: /var/log/nginx/error.log"
    application          = "frontend, backend: /var/log/cso/application.log, the application services"
  }
}

resource "aws_cloudwatch_log_group" "host" {
  for_each = local.host_logs

  name              = "/cso/${var.environment}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = merge(var.tags, { Log = each.key })
}
