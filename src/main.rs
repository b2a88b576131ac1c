//! The `frontline` command: serve the API, migrate, bootstrap an organisation, load the demo,
//! print the OpenAPI document.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use frontline::config::{self, Settings};
use frontline::{db, provisioning, telemetry};

#[derive(Parser)]
#[command(
    name = "frontline",
    version,
    about = "Employee engagement for customer experience"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (address and port from Rocket.toml / ROCKET_ADDRESS / ROCKET_PORT).
    Serve,
    /// Create the database if it is missing and apply pending migrations.
    Migrate,
    /// Create an organisation and its first admin. The admin's password is read from
    /// FRONTLINE_ADMIN_PASSWORD or, failing that, from standard input.
    Bootstrap {
        /// The organisation's slug: what members type at login (e.g. acme).
        #[arg(long)]
        organisation: String,
        /// The organisation's display name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// The admin's display name.
        #[arg(long, default_value = "Administrator")]
        admin_name: String,
        /// IANA time zone of the organisation.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
    /// Load the demo organisation (slug `demo`) unless it exists, and print its logins.
    /// Refused under the release profile (a production database) unless --force.
    Demo {
        /// Load the demo even under the release profile: its logins share a public password.
        #[arg(long)]
        force: bool,
    },
    /// Print the OpenAPI 3.1 document to standard output.
    Openapi,
}

#[rocket::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Openapi => {
            let json = frontline::openapi::document()
                .to_pretty_json()
                .map_err(|e| e.to_string())?;
            println!("{json}");
            Ok(())
        }
        Command::Serve => {
            let rocket = frontline::rocket(config::figment()).map_err(|e| e.to_string())?;
            rocket
                .launch()
                .await
                .map_err(|e| format!("the server stopped: {e}"))?;
            Ok(())
        }
        Command::Migrate => {
            let url = database_url()?;
            db::create_database_if_missing(&url).await?;
            let applied = db::run_migrations(&url).await?;
            if applied.is_empty() {
                eprintln!("database is up to date");
            }
            for m in applied {
                eprintln!("applied {m}");
            }
            Ok(())
        }
        Command::Bootstrap {
            organisation,
            name,
            admin_email,
            admin_name,
            time_zone,
        } => {
            let password = admin_password()?;
            let mut conn = connect().await?;
            let (org, admin) = provisioning::bootstrap(
                &mut conn,
                provisioning::Bootstrap {
                    slug: organisation.clone(),
                    name,
                    time_zone,
                    admin_email: admin_email.clone(),
                    admin_name,
                    admin_password: password,
                },
            )
            .await
            .map_err(describe)?;
            eprintln!(
                "created organisation {organisation} ({org}) with admin {admin_email} ({admin})"
            );
            Ok(())
        }
        Command::Demo { force } => {
            provisioning::demo_allowed(config::figment().profile().as_str().as_str(), force)?;
            let mut conn = connect().await?;
            let demo = provisioning::demo(&mut conn).await.map_err(describe)?;
            if demo.created {
                eprintln!("loaded the demo organisation");
            } else {
                eprintln!("the demo organisation is already loaded");
            }
            eprintln!(
                "demo logins (organisation `{}`, password `{}`):",
                provisioning::DEMO_SLUG,
                provisioning::DEMO_PASSWORD
            );
            for (email, role) in demo.logins {
                eprintln!("  {email:<28} {role}");
            }
            Ok(())
        }
    }
}

fn describe(e: frontline::error::AppError) -> String {
    match e {
        frontline::error::AppError::Validation(errors) => errors
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn database_url() -> Result<String, String> {
    let settings = Settings::from_figment(&config::figment()).map_err(|e| e.to_string())?;
    settings
        .database_url()
        .map(str::to_string)
        .map_err(|e| e.to_string())
}

async fn connect() -> Result<AsyncPgConnection, String> {
    let url = database_url()?;
    AsyncPgConnection::establish(&url).await.map_err(|e| {
        format!("cannot connect to the database (run `frontline migrate` first?): {e}")
    })
}

/// The admin password never comes from a flag: flags end up in shell history and `ps`.
fn admin_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("FRONTLINE_ADMIN_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password("admin password: ").map_err(|e| e.to_string());
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(
            "no admin password: set FRONTLINE_ADMIN_PASSWORD or pipe it on standard input".into(),
        );
    }
    Ok(password)
}
