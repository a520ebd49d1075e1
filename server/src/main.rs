//! `keukentafel-server`: the sync server and its admin tool.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use keukentafel_core::model::{Mandate, Money, NewMember, ProvisionCategory, Role, Timestamp};
use keukentafel_core::{DeviceId, MemberId, WorkspaceId};
use keukentafel_server::{AppState, SqliteStorage, auth};

#[derive(Parser)]
#[command(
    name = "keukentafel-server",
    version,
    about = "Keukentafel sync server and admin tool"
)]
struct Cli {
    /// The server's database file (created when missing).
    #[arg(
        long,
        global = true,
        default_value = "keukentafel-server.db",
        env = "KEUKENTAFEL_DB"
    )]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves sync and enrolment over HTTP (loopback by default).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        /// TLS certificate chain (PEM); serves HTTPS and WSS with --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manages workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manages members.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Manages devices.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Shows the access log of a case (or the workspace document).
    AccessLog {
        /// The case id.
        #[arg(long)]
        case: String,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Creates a team's workspace with its admin.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        area: String,
        /// The admin's display name.
        #[arg(long, default_value = "Beheerder")]
        admin: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Practitioner,
    TeamLead,
    Admin,
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Adds a member with a role and a mandate.
    Add {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Mandate per category, as CATEGORY=EUROS (e.g. huishoudelijke_hulp=2500); repeatable.
        #[arg(long = "mandate", value_parser = parse_mandate)]
        mandate: Vec<(ProvisionCategory, i64)>,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Prints a one-time enrolment code for a member's new device.
    Invite {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        member: MemberId,
        /// How long the code stays valid.
        #[arg(long, default_value_t = 24)]
        valid_hours: i64,
    },
    /// Revokes a device at once; it erases its data when it next connects.
    Revoke {
        #[arg(long)]
        device: DeviceId,
    },
    /// Lists a workspace's devices.
    List {
        #[arg(long)]
        workspace: WorkspaceId,
    },
}

fn parse_mandate(s: &str) -> Result<(ProvisionCategory, i64), String> {
    let (cat, euros) = s.split_once('=').ok_or("expected CATEGORY=EUROS")?;
    let cat = ProvisionCategory::from_name(cat.trim()).ok_or_else(|| {
        let names: Vec<_> = ProvisionCategory::ALL.iter().map(|c| c.as_str()).collect();
        format!("unknown category; one of: {}", names.join(", "))
    })?;
    let euros = euros
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|e| Money::try_euros(*e).is_some_and(|m| m.cents() >= 0))
        .ok_or("EUROS must be a whole, non-negative number of euros within range")?;
    Ok((cat, euros))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut storage =
        SqliteStorage::open(&cli.db).with_context(|| format!("opening {}", cli.db.display()))?;
    match cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
        } => serve(storage, listen, tls_cert.zip(tls_key), &cli.db),
        Command::Workspace {
            command: WorkspaceCommand::Create { name, area, admin },
        } => {
            let (ws, member) = storage.create_workspace(
                &name,
                &area,
                NewMember {
                    display_name: admin,
                    role: Role::Admin,
                    mandate: Mandate::default(),
                },
            )?;
            println!("workspace {ws}\nadmin member {member}");
            println!(
                "next: keukentafel-server member add --workspace {ws} --name NAME --role practitioner --mandate huishoudelijke_hulp=2500"
            );
            Ok(())
        }
        Command::Member {
            command:
                MemberCommand::Add {
                    workspace,
                    name,
                    role,
                    mandate,
                },
        } => {
            let role = match role {
                RoleArg::Practitioner => Role::Practitioner,
                RoleArg::TeamLead => Role::TeamLead,
                RoleArg::Admin => Role::Admin,
            };
            let mandate = mandate
                .into_iter()
                .fold(Mandate::default(), |m, (c, e)| m.with(c, Money::euros(e)));
            let id = MemberId::random();
            storage.edit_workspace(&workspace, None, |doc, author, now| {
                doc.add_member(
                    author,
                    now,
                    &id,
                    NewMember {
                        display_name: name,
                        role,
                        mandate,
                    },
                )
            })?;
            println!("member {id}");
            println!(
                "next: keukentafel-server device invite --workspace {workspace} --member {id}"
            );
            Ok(())
        }
        Command::Device {
            command:
                DeviceCommand::Invite {
                    workspace,
                    member,
                    valid_hours,
                },
        } => {
            let ws = keukentafel_core::sync::ServerStorage::workspace(&storage, &workspace)?
                .context("no such workspace")?;
            if ws.workspace().member(&member).is_none() {
                bail!("{member} is not an active member of this workspace");
            }
            if !(1..=24 * 14).contains(&valid_hours) {
                bail!("--valid-hours must be between 1 and 336");
            }
            let code = auth::new_enrolment_code()?;
            let expires = Timestamp(Timestamp::now().0 + valid_hours * 3_600_000);
            storage.add_enrolment(&auth::code_hash(&code), &workspace, &member, expires)?;
            println!("{code}");
            eprintln!(
                "one-time enrolment code, valid until {expires} UTC: enter it in the app with this server's address"
            );
            Ok(())
        }
        Command::Device {
            command: DeviceCommand::Revoke { device },
        } => {
            storage.revoke(&device, Timestamp::now())?;
            let record = storage.device(&device)?;
            storage.log(record.as_ref(), None, "revoked", "ok")?;
            println!(
                "revoked {device}; it is refused from now on and erases its data when it next connects"
            );
            Ok(())
        }
        Command::Device {
            command: DeviceCommand::List { workspace },
        } => {
            for d in storage.devices(&workspace)? {
                let state = d
                    .revoked_at
                    .map_or_else(|| "active".to_owned(), |t| format!("revoked {t}"));
                println!(
                    "{}  {}  member {}  enrolled {}  {}",
                    d.device, d.label, d.member, d.enrolled_at, state
                );
            }
            Ok(())
        }
        Command::AccessLog { case } => {
            let case = keukentafel_core::CaseId::parse(&case)?;
            for r in storage.access_log(case.as_str())? {
                println!(
                    "{}  {}  device {}  {}  {}",
                    r.at,
                    r.member.unwrap_or_default(),
                    r.device.unwrap_or_default(),
                    r.action,
                    r.outcome
                );
            }
            Ok(())
        }
    }
}

fn serve(
    storage: SqliteStorage,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    db: &std::path::Path,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let state = AppState::new(storage, stopped);
        let handle = axum_server::Handle::new();
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("listening on {listen}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, scheme, "keukentafel-server listening");
        println!(
            "keukentafel-server listening on {scheme}://{addr} (database {})",
            db.display()
        );
        let me = std::env::args()
            .next()
            .unwrap_or_else(|| "keukentafel-server".into());
        println!(
            "next, for an admin: {me} --db {} workspace create --name \"Wijkteam Noord\"",
            db.display()
        );
        println!(
            "then add members and print enrolment codes with `member add` and `device invite`."
        );
        let on_signal = handle.clone();
        let sessions = state.clone();
        tokio::spawn(async move {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            let term = async {
                if let Ok(mut s) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    s.recv().await;
                }
            };
            #[cfg(not(unix))]
            let term = std::future::pending::<()>();
            tokio::select! { _ = ctrl_c => {}, _ = term => {} }
            tracing::info!("shutting down: finishing syncs in flight");
            // Sessions finish their step, answer with Stop and close; then the listener
            // drains. Upgraded connections are not tracked by the listener, so wait for them.
            let _ = stop.send(true);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while sessions.connected_devices() > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            on_signal.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
        });
        let tls = match tls {
            Some((cert, key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                Some(
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                        .await
                        .with_context(|| {
                            format!(
                                "reading TLS certificate {} and key {}",
                                cert.display(),
                                key.display()
                            )
                        })?,
                )
            }
            None => None,
        };
        keukentafel_server::serve(listener, state, tls, handle).await?;
        anyhow::Ok(())
    })
}
