package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// examples are the lines `cso help COMMAND` shows under Examples, by command path: what an
// operator types first. One place for all of them, so a test (TestExamplesParse) can check
// that every runnable command has some and that each line names real flags.
var examples = map[string][]string{
	"cso admin serve": {
		"# on the jump server (the agent installs this as a service)",
		"cso admin serve --env dev --cert /opt/ssl-certs/jump.crt --key /opt/ssl-certs/jump.key --listen 0.0.0.0:8443",
		"# against the local target",
		"cso admin serve --local-dir .local",
	},
	"cso app package": {
		"# build a package from a directory holding cso-app.yaml",
		"cso app package ./portal-app --out cso-application-2.4.1.tar.gz",
		"cso app package ./portal-app --name cso-application -o json",
	},
	"cso app validate": {
		"cso app validate cso-application-2.4.1.tar.gz",
		"cso app validate cso-application-2.4.1.tar.gz --name cso-application",
	},
	"cso agent": {
		"# what user data runs on an EC2 host",
		"cso agent --env dev --role keystone --index 1 --account-id 123456789012",
		"# one host of the local target, changing nothing",
		"cso agent --local-dir .local --host keystone-server-1 --dry-run",
		"# every file, unit and command of a fresh Amazon Linux 2023 host",
		"cso agent --render /tmp/render --env dev --role rabbitmq --index 1",
	},
	"cso app deploy": {
		"# roll a new application version across the frontend and backend hosts, one at a time",
		"cso app deploy --env prod-ha cso-application-2.4.1.tar.gz",
		"# the same on the local target of cso local up --app-ha",
		"cso app deploy --local-dir .local cso-application-2.4.1.tar.gz",
	},
	"cso app status": {"cso app status --env prod-ha", "cso app status --local-dir .local -o json"},
	"cso backup": {
		"cso backup --local-dir .local",
		"# on the jump server (its timer does this on the env file's schedule)",
		"cso backup --env prod --keep-count 7 --keep-days 30",
	},
	"cso backup list": {"cso backup list --local-dir .local", "cso backup list --env prod -o json"},
	"cso restore": {
		"# after cso local down --purge: brings a new stack up and restores into it",
		"cso restore --local-dir .local 20261205T181500Z-1a2b3c",
		"cso restore --env prod 20261205T181500Z-1a2b3c --force",
	},
	"cso bench keystone": {
		"# token validations through both Keystone nodes of the local HA target",
		"cso bench keystone --local-dir .local --op validate --clients 16 --requests 20000 --duration 2m",
		"cso bench keystone --local-dir .local --op issue --clients 4 --requests 200 -o json",
		"# the LLD's production rate, evenly spaced",
		"cso bench keystone --local-dir .local --rate 83.3 --requests 5000 --duration 1m",
	},
	"cso bench soak": {
		"# ten minutes at the LLD's production rate while every agent re-runs each minute",
		"cso bench soak --local-dir .local",
		"cso bench soak --local-dir .local --duration 1m -o json",
	},
	"cso keys status": {
		"# the key sets of the local target: ages, which node holds which set, the next rotation",
		"cso keys status --local-dir .local",
		"cso keys status --env prod-ha -o json",
	},
	"cso keys rotate": {
		"# rotate the fernet set now and install it on every Keystone node of the local target",
		"cso keys rotate fernet --local-dir .local",
		"cso keys rotate credential --local-dir .local",
		"# on AWS: prints the SSM command that rotates on keystone01",
		"cso keys rotate fernet --env prod-ha",
	},
	"cso bench rabbitmq": {
		"# publish with confirms and consume across the three RabbitMQ nodes of the local HA target",
		"cso bench rabbitmq --local-dir .local --messages 5000 --duration 3m",
		"cso bench rabbitmq --local-dir .local --messages 20000 --confirm-window 16 --prefetch 100 --rate 200 -o json",
	},
	"cso check": {
		"cso check --local-dir .local",
		"cso check --env dev --mysql-ca global-bundle.pem",
		"cso check --env dev -o json",
	},
	"cso certs": {
		"cso certs --local-dir .local",
		"cso certs --env dev -o json",
	},
	"cso certs renew": {
		"# every host certificate of the local target, installed and reloaded without a restart",
		"cso certs renew --local-dir .local",
		"cso certs renew --local-dir .local --days 30",
		"cso certs renew keystone-server-1 --local-dir .local --lifetime 2h",
		"# the local MariaDB's certificate alone (reloaded with FLUSH SSL, connections kept)",
		"cso certs renew mysql --local-dir .local",
	},
	"cso deploy": {
		"cso deploy --env dev",
		"cso deploy --env prod --auto-approve",
		"cso deploy --env prod --plan prod.tfplan",
	},
	"cso destroy":  {"cso destroy --env dev"},
	"cso env show": {"cso env show --env dev", "cso env show environments/env.dev.yaml -o json"},
	"cso env validate": {
		"cso env validate",
		"cso env validate --env prod",
		"cso env validate my-env.yaml",
	},
	"cso local supervise": {
		"# in the foreground (local up already runs it in the background)",
		"cso local supervise --local-dir .local",
	},
	"cso logs": {
		"cso logs keystone01 --local-dir .local",
		"cso logs keystone01 keystone-httpd-error --since 30m --grep Traceback",
		"cso logs rabbitmq-server-1 rabbitmq --env prod -f",
		"cso logs jump-server-1 agent --env dev --since 2026-01-02T15:00:00Z -o json",
	},
	"cso local down":    {"cso local down", "cso local down --local-dir /srv/cso --purge"},
	"cso local restart": {"cso local restart --local-dir .local"},
	"cso local status":  {"cso local status", "cso local status -o json"},
	"cso local up": {
		"cso local up",
		"cso local up --ha --local-dir /srv/cso-ha --port-base 1000",
		"# two frontends and two backends behind the ALB stand-in, for rolling releases",
		"cso local up --app-ha --local-dir /srv/cso-app",
		"cso local up --env dev --dry-run",
	},
	"cso plan":    {"cso plan --env dev", "cso plan --env prod -o json", "cso plan --env prod --out prod.tfplan"},
	"cso replace": {"cso replace keystone-server-2 --env prod"},
	"cso version": {"cso version", "cso version -o json"},
}

// applyExamples sets each command's Example from examples.
func applyExamples(cmd *cobra.Command) {
	if lines, ok := examples[cmd.CommandPath()]; ok {
		cmd.Example = "  " + strings.Join(lines, "\n  ")
	}
	for _, c := range cmd.Commands() {
		applyExamples(c)
	}
}
