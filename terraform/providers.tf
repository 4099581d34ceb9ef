provider "aws" {
  region = local.env.region
  # Refuse to touch any other account than the one the env file names.
  allowed_account_ids = [local.account_id]

  default_tags {
    tags = local.tags
  }
}
