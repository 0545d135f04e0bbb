//! `arbiter serve`: the service (the `arbiter-server` crate) as a command:
//! settings, the demo's seeding and keys, the listener, Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use arbiter_server::auth::Role;
use arbiter_server::store::{Store, describe, redacted};
use arbiter_server::{ServeConfig, ServeError, demo};

use super::{EXIT_INTERNAL, EXIT_INVALID};

/// Run the Arbiter service: the HTTP API under `/v1`, backed by a SQLite
/// file or a PostgreSQL database.
///
/// With no --config it stores in `./arbiter-data/arbiter.sqlite` and
/// listens on 127.0.0.1:8080. Settings come from the file, then from the
/// environment (`ARBITER_LISTEN`, `ARBITER_DATA_DIR`, `ARBITER_DATABASE_URL`,
/// `ARBITER_MAX_CONCURRENT_SOLVES`), then from --database-url.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  arbiter keys create --role admin        # prints a token once
  arbiter serve
  curl -H 'Authorization: Bearer arb_…' http://127.0.0.1:8080/v1/sites")]
pub struct Args {
    /// The service configuration (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed the demo site and data from `fixtures/` (run from the
    /// repository) and run on a simulated clock from 2024-10-24 07:00 UTC
    /// at 60× real time; prints a key per role.
    #[arg(long)]
    demo: bool,
    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`
    /// (several replicas may share one PostgreSQL database).
    #[arg(long)]
    database_url: Option<String>,
}

/// Runs the command.
pub fn run(args: &Args) -> ExitCode {
    let config = match ServeConfig::load(args.config.as_deref()) {
        Ok(config) if args.database_url.is_some() => Ok(ServeConfig {
            database_url: args.database_url.clone(),
            ..config
        }),
        other => other,
    };
    let config = match config {
        Ok(config) if args.demo => match demo::clock() {
            Ok(clock) => ServeConfig {
                clock: Some(clock),
                ..config
            },
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(EXIT_INTERNAL);
            }
        },
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match runtime.block_on(serve(config, args.demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// Seeds the demo (if asked), binds, says where it listens, and serves until
/// Ctrl-C or SIGTERM.
async fn serve(mut config: ServeConfig, demo: bool) -> Result<(), String> {
    let seeded = if demo {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|error| format!("{}: {error}", config.data_dir.display()))?;
        let store = Store::connect(&config.database())
            .await
            .map_err(|error| format!("{}: {error}", redacted(&config.database())))?;
        let seeded = demo::seed(&store, std::path::Path::new("."))
            .await
            .map_err(|error| format!("seeding the demo: {error}"))?;
        eprintln!(
            "arbiter: demo site {} (fixtures/sites/demo.toml); keys for this run:",
            seeded.site_id
        );
        for (role, key_id, token) in &seeded.keys {
            eprintln!("  {:<10} {token}  ({key_id})", role.name());
        }
        config.demo_controller = Some(seeded.site_id.clone());
        Some(seeded)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    eprintln!(
        "arbiter: storing in {}; listening on http://{address}",
        describe(&config.database())
    );
    if let Some(clock) = &config.clock {
        eprintln!(
            "arbiter: simulated clock from {} at {}× real time",
            clock.start.to_rfc3339(),
            clock.speed
        );
    }
    if let Some((site, token)) = seeded
        .as_ref()
        .and_then(|s| Some((&s.site_id, s.token(Role::Trader)?)))
    {
        eprintln!(
            "arbiter: the demo site's latest plan (new every simulated hour, every real minute):\n  \
             curl -H 'Authorization: Bearer {token}' http://{address}/v1/sites/{site}/plans/latest\n\
             the API guide: docs/service.md; Ctrl-C stops"
        );
    }
    arbiter_server::serve(config, listener, shutdown_signal())
        .await
        .map_err(|error: ServeError| error.to_string())?;
    eprintln!("arbiter: stopped; every acknowledged write is stored");
    Ok(())
}

/// Resolves at Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("arbiter: shutting down; finishing requests in flight");
}
