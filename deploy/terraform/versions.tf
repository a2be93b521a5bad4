# Terraform and provider pins. The state lives in a GCS bucket; the bucket and
# prefix are given at init (README.md: "Apply"), one prefix per environment.
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
  }

  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = local.primary_region
}
