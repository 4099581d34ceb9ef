output "instances" {
  description = "Instances keyed by host name: id, role, index, private_ip, availability_zone, instance_type, fqdn."
  value = {
    for k, i in local.instances : k => {
      id                = i.id
      role              = var.hosts[k].role
      index             = var.hosts[k].index
      private_ip        = i.private_ip
      availability_zone = i.availability_zone
      instance_type     = i.instance_type
      fqdn              = var.hosts[k].fqdn
    }
  }
}

output "target_group_attachments" {
  description = "Target group attachments, keyed <target group>/<host>."
  value       = { for k, a in aws_lb_target_group_attachment.this : k => a.target_group_arn }
}
