# tflint configuration for terraform/ (run: tflint --chdir=terraform --recursive, or
# scripts/lint-terraform.sh). Only the built-in terraform ruleset: the AWS plugin cannot be
# downloaded offline.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

# Beyond the recommended preset: the conventions of terraform-aws-modules.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}
