//! `arbiter keys`: create, list and revoke the service's API keys. Works on
//! the database directly, while the service runs or not.

use std::path::PathBuf;
use std::process::ExitCode;

use arbiter_server::auth::{Role, create_key};
use arbiter_server::store::{Store, millis, redacted};

use super::{Failure, exit, invalid};

/// Manage the service's API keys (stored as hashes; a token is printed
/// once, at creation).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key and print its token (only now: it is not stored).
    #[command(after_help = "Examples:
  arbiter keys create --role admin
  arbiter keys create --role controller --site np15-hub")]
    Create {
        /// What the key may do: controller, trader, analyst or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A site a controller key acts for (repeat for several).
        #[arg(long = "site")]
        sites: Vec<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the keys (never their tokens).
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a key by its id; the service refuses it within seconds.
    Revoke {
        /// The key's id (`key_…`, from `arbiter keys list`).
        id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Where the database is.
#[derive(Debug, clap::Args)]
pub struct DataDir {
    /// The service's data folder (its SQLite file, unless --database-url
    /// names another database).
    #[arg(long, env = "ARBITER_DATA_DIR", default_value = "arbiter-data")]
    data_dir: PathBuf,
    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(long, env = "ARBITER_DATABASE_URL")]
    database_url: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

/// Runs the command.
pub fn run(command: &Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return exit(Err(Failure::Internal(format!("the runtime: {error}")))),
    };
    exit(runtime.block_on(keys(command)))
}

async fn open(data: &DataDir) -> Result<Store, Failure> {
    match &data.database_url {
        Some(url) => Store::connect(url)
            .await
            .map_err(|error| Failure::Internal(format!("{}: {error}", redacted(url)))),
        None => Store::open(&data.data_dir)
            .await
            .map_err(|error| Failure::Internal(format!("{}: {error}", data.data_dir.display()))),
    }
}

async fn keys(command: &Command) -> Result<(), Failure> {
    let internal = |error: arbiter_server::store::StoreError| Failure::Internal(error.to_string());
    match command {
        Command::Create { role, sites, data } => {
            match (role, sites.is_empty()) {
                (Role::Controller, true) => {
                    return Err(invalid(
                        "--site: a controller key needs at least one site (--site ID)",
                    ));
                }
                (Role::Controller, false) => {}
                (_, false) => {
                    return Err(invalid(format!(
                        "--site: only controller keys are scoped to sites; a {} key reads all",
                        role.name()
                    )));
                }
                (_, true) => {}
            }
            if let Some(bad) = sites
                .iter()
                .find(|site| !arbiter_backtest::site::is_identifier(site))
            {
                return Err(invalid(format!(
                    "--site ({bad:?}) must be 1 to 64 lowercase letters, digits, '-' or '_'"
                )));
            }
            let store = open(data).await?;
            let (key, token) = create_key(&store, *role, sites).await.map_err(internal)?;
            eprintln!(
                "created {} ({}{}); the token is shown only now:",
                key.id,
                key.role,
                if key.sites.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", key.sites.join(", "))
                }
            );
            outln!("{token}");
        }
        Command::List { data } => {
            let store = open(data).await?;
            outln!(
                "{:<17} {:<10} {:<25} {:<25} sites",
                "id",
                "role",
                "created",
                "revoked"
            );
            for key in store.keys().await.map_err(internal)? {
                outln!(
                    "{:<17} {:<10} {:<25} {:<25} {}",
                    key.id,
                    key.role,
                    millis(key.created_at),
                    key.revoked_at.map_or_else(|| "-".to_owned(), millis),
                    key.sites.join(",")
                );
            }
        }
        Command::Revoke { id, data } => {
            let store = open(data).await?;
            if !store.revoke_key(id).await.map_err(internal)? {
                return Err(invalid(format!("no unrevoked key {id}")));
            }
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
