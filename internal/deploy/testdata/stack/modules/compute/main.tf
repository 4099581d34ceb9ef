terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "hosts" {
  type = set(string)
}

variable "subnet_ids" {
  type = list(string)
}

resource "aws_instance" "this" {
  for_each      = var.hosts
  ami           = "ami-00000000000000000"
  instance_type = "t3.micro"
  subnet_id     = var.subnet_ids[0]
  tags          = { Name = each.key }
}

output "instances" {
  value = { for k, i in aws_instance.this : k => { id = i.id, private_ip = i.private_ip } }
}
