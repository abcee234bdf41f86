//! The `custos` command: serve, demo, migrate, and operator commands.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use custos_core::password::Password;
use custos_server::usecases::{accounts::Registration, operator};
use custos_server::{Application, Config, Mode, Overrides};
use custos_store::Store;

/// mimalloc rather than the system allocator: a command's own work is mostly small, short-lived
/// allocations (decoding rows, encoding JSON, sealing), and with glibc's allocator they were about
/// a third of the freeze's time outside the store (BENCHMARKS.md, "Eighth session").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "custos",
    version,
    about = "Account-takeover defence and incident response for custodial crypto platforms"
)]
struct Cli {
    /// Configuration file (default: ./custos.toml if present). CUSTOS_* variables override it.
    #[arg(long, global = true, env = "CUSTOS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
struct ServeArgs {
    /// Address to listen on [env: CUSTOS_LISTEN, default 127.0.0.1:8080]
    #[arg(long)]
    listen: Option<String>,
    /// Data directory for the SQLite database and dev keys [env: CUSTOS_DATA_DIR, default ./custos-data]
    #[arg(long)]
    data_dir: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with demo data: a victim account with a history to investigate.
    Demo(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(ServeArgs),
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Audit trail commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Integration service tokens (for the exchange's services calling /api/v1/integration).
    ServiceToken {
        #[command(subcommand)]
        command: ServiceTokenCommand,
    },
    /// Ledger commands for demo and development data.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Freeze an account now (support's kill switch): sessions and API keys revoked, pending
    /// withdrawals and transfers cancelled; prints the receipt. Audited with the operator's name.
    Freeze {
        #[arg(long)]
        uid: u64,
        #[arg(long)]
        reason: String,
        /// Your name, recorded in the audit trail.
        #[arg(long)]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// End a freeze after support verified the holder: the account becomes `recovering`, every old
    /// credential stops working, and a password-reset link goes only to --contact. Needs two
    /// different operators.
    Unfreeze {
        #[arg(long)]
        uid: u64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        operator: String,
        /// The second operator who approved the unfreeze.
        #[arg(long)]
        approved_by: String,
        /// The address support verified; it alone receives the reset link.
        #[arg(long)]
        contact: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Support staff accounts (separate from customer accounts; password and TOTP required).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// The registry of official channels users can check at /verify.
    Official {
        #[command(subcommand)]
        command: OfficialCommand,
    },
    /// Print a new random root key for CUSTOS_MASTER_KEY.
    Keygen,
    /// Print a new webhook signing secret (whsec_…) for CUSTOS_WEBHOOK_SECRET.
    WebhookSecret,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account with a verified address. The password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone: Option<String>,
        /// Your name, recorded in the audit trail.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Create a staff member and print a one-time setup link (valid one hour), where they choose a
    /// password and enrol an authenticator app. No password is accepted here.
    Create {
        #[arg(long)]
        email: String,
        /// Display name, shown to users beside the staff ID.
        #[arg(long)]
        name: String,
        /// agent | analyst | admin
        #[arg(long)]
        role: String,
        /// Your name, recorded in the audit trail.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Print a new one-time setup link for a staff member who has not finished setting up.
    SetupLink {
        #[arg(long)]
        email: String,
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// List staff members (no secrets).
    List(ServeArgs),
    /// Disable a staff member: every session ends at once; their staff ID stops being official.
    Disable {
        #[arg(long)]
        email: String,
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum OfficialCommand {
    /// Register an official channel.
    Add {
        /// domain | email | phone | social
        #[arg(long)]
        kind: String,
        /// e.g. custos.example, support@custos.example, +44 20 7946 0000, x:@custoshelp
        #[arg(long)]
        value: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Remove an official channel.
    Remove {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        value: String,
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// List the registry.
    List(ServeArgs),
}

#[derive(Subcommand)]
enum ServiceTokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// Which service uses it, e.g. "ledger-feed".
        #[arg(long)]
        name: String,
        /// Your name, recorded in the audit trail.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Credit an account (dev and demo mode only; production deposits come from the integration API).
    Deposit {
        #[arg(long)]
        uid: u64,
        #[arg(long)]
        asset: String,
        /// Decimal amount, e.g. 0.5
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every audit chain; name the first broken record of each broken chain.
    Verify(ServeArgs),
}

fn load(cli_config: &Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Config> {
    let overrides = Overrides { listen: args.listen.clone(), data_dir: args.data_dir.clone(), mode: None };
    Ok(Config::load(cli_config.as_deref(), overrides)?)
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CUSTOS_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn warn_dev(config: &Config) {
    if config.mode == Mode::Dev {
        eprintln!(
            "\n  ⚠  DEVELOPMENT MODE — dev mailbox at {}, keys kept in {}.\n     Never use this mode for real accounts: set CUSTOS_MODE=production.\n",
            config.link("/dev/mailbox"),
            config.data_dir.display()
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    init_logging(config.log_json);
    warn_dev(&config);
    let public = config.public_url.clone();
    let app = Application::build(config).await?;
    if demo {
        let seeded = custos_server::demo::seed(app.state()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let base = public.as_str().trim_end_matches('/');
        println!(
            "\ncustos demo {}\n\n  Security center  {base}/login\n  Victim           {} / {}\n  Other account    {} / {}\n  Dev mailbox      {base}/dev/mailbox\n  API docs         {base}/api/docs\n\nSign in as the victim and look at \"Recent sign-in activity\": someone got in last night.\n",
            if seeded { "(seeded just now)" } else { "(data already seeded)" },
            custos_server::demo::VICTIM_EMAIL,
            custos_server::demo::VICTIM_PASSWORD,
            custos_server::demo::OTHER_EMAIL,
            custos_server::demo::OTHER_PASSWORD,
        );
    }
    tracing::info!(addr = %app.local_addr(), "custos listening");
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("Password (at least 15 characters), then Enter:");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("no password on standard input");
    }
    Ok(pw)
}

/// Prints a refusal's reasons and exits 2; other errors are returned.
fn exit_refused(e: custos_server::error::ApiError) -> anyhow::Result<()> {
    use custos_server::error::ApiError;
    match e {
        ApiError::Validation(reasons) | ApiError::Refused(reasons) => {
            for r in reasons {
                eprintln!("refused: {} — {}", r.code.0, r.detail);
            }
            std::process::exit(2);
        }
        ApiError::Conflict(r) => {
            eprintln!("refused: {} — {}", r.code.0, r.detail);
            std::process::exit(2);
        }
        ApiError::NotFound => {
            eprintln!("refused: not found");
            std::process::exit(2);
        }
        e => bail!("{e}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // One TLS provider for the whole process (STACK.md: ring everywhere).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve(args) => serve(load(&cli.config, args)?, false).await,
        Command::Demo(args) => serve(load(&cli.config, args)?, true).await,
        Command::Migrate(args) => {
            let config = load(&cli.config, args)?;
            if config.database_url.starts_with("sqlite:") {
                std::fs::create_dir_all(&config.data_dir)?;
            }
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            println!("migrations applied ({})", store.backend_name());
            Ok(())
        }
        Command::User { command: UserCommand::Create { email, phone, operator, serve } } => {
            let mut config = load(&cli.config, serve)?;
            config.listen = "127.0.0.1:0".parse()?;
            let password = read_password()?;
            let app = Application::build(config).await?;
            let reg = Registration {
                email: email.clone(),
                password: Password::new(password),
                phone: phone.clone(),
            };
            match operator::create_account(app.state(), reg, operator).await {
                Ok(uid) => println!("created account {email} with UID {uid}"),
                Err(custos_server::error::ApiError::Validation(reasons)) => {
                    for r in reasons {
                        eprintln!("refused: {} — {}", r.code.0, r.detail);
                    }
                    std::process::exit(2);
                }
                Err(e) => bail!("{e}"),
            }
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify(args) } => {
            let config = load(&cli.config, args)?;
            let store = Store::connect(&config.database_url).await?;
            store.migrate().await?;
            let report = operator::verify_audit(&store, |_| {}).await?;
            if report.broken.is_empty() {
                println!("audit trail intact: {} chains, {} records", report.chains, report.records);
                Ok(())
            } else {
                for b in &report.broken {
                    eprintln!("BROKEN: {b}");
                }
                eprintln!(
                    "{} of {} chains broken ({} records verified before the breaks)",
                    report.broken.len(),
                    report.chains,
                    report.records
                );
                std::process::exit(1);
            }
        }
        Command::ServiceToken { command: ServiceTokenCommand::Create { name, operator, serve } } => {
            let mut config = load(&cli.config, serve)?;
            config.listen = "127.0.0.1:0".parse()?;
            let app = Application::build(config).await?;
            let token = operator::create_service_token(app.state(), name, operator)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("service token for {name} (shown once; send it as Authorization: Bearer …):");
            println!("{}", token.expose());
            Ok(())
        }
        Command::Ledger { command: LedgerCommand::Deposit { uid, asset, amount, serve } } => {
            let mut config = load(&cli.config, serve)?;
            config.listen = "127.0.0.1:0".parse()?;
            let app = Application::build(config).await?;
            match operator::dev_deposit(app.state(), *uid, asset, amount).await {
                Ok(()) => println!("credited {amount} {asset} to UID {uid}"),
                Err(
                    custos_server::error::ApiError::Validation(reasons)
                    | custos_server::error::ApiError::Refused(reasons),
                ) => {
                    for r in reasons {
                        eprintln!("refused: {} — {}", r.code.0, r.detail);
                    }
                    std::process::exit(2);
                }
                Err(e) => bail!("{e}"),
            }
            Ok(())
        }
        Command::Freeze { uid, reason, operator, serve } => {
            let mut config = load(&cli.config, serve)?;
            config.listen = "127.0.0.1:0".parse()?;
            let app = Application::build(config).await?;
            let uid = custos_core::ids::Uid::parse(&uid.to_string()).context("not a UID")?;
            match custos_server::usecases::freeze::by_operator(app.state(), uid, reason, operator).await {
                Ok(f) => {
                    if f.already_frozen {
                        eprintln!("UID {uid} was already frozen; this is that freeze's receipt:");
                    } else {
                        eprintln!("UID {uid} is frozen. Receipt:");
                    }
                    println!("{}", serde_json::to_string_pretty(&f.receipt)?);
                    if let Some(case) = &f.case {
                        eprintln!("Private case link (give it only to the verified holder): {}", case.url);
                        match &case.emailed_to {
                            Some(to) => {
                                eprintln!("The case link was emailed to {to} (predates any recent change).")
                            }
                            None => eprintln!(
                                "The case link was emailed nowhere: no address predates the last binding change."
                            ),
                        }
                    }
                }
                Err(e) => exit_refused(e)?,
            }
            Ok(())
        }
        Command::Unfreeze { uid, reason, operator, approved_by, contact, serve } => {
            let mut config = load(&cli.config, serve)?;
            config.listen = "127.0.0.1:0".parse()?;
            let app = Application::build(config).await?;
            let uid = custos_core::ids::Uid::parse(&uid.to_string()).context("not a UID")?;
            let req = custos_server::usecases::unfreeze::Unfreeze {
                uid,
                reason: reason.clone(),
                operator: operator.clone(),
                approved_by: approved_by.clone(),
                contact: contact.clone(),
            };
            match custos_server::usecases::unfreeze::unfreeze(app.state(), &req).await {
                Ok(done) => println!(
                    "UID {uid} is recovering: old credentials no longer work; a password-reset link to {contact} is queued for the running server to deliver; withdrawals are locked until {}",
                    done.withdrawal_lock_until
                ),
                Err(e) => exit_refused(e)?,
            }
            Ok(())
        }
        Command::Staff { command } => staff_command(&cli.config, command).await,
        Command::Official { command } => official_command(&cli.config, command).await,
        Command::Keygen => {
            println!("{}", custos_core::crypto::RootKey::generate().to_hex());
            Ok(())
        }
        Command::WebhookSecret => {
            println!("{}", custos_core::webhook::WebhookSecret::generate().expose());
            Ok(())
        }
    }
}

/// A built application for a one-shot command (no listener in use).
async fn one_shot(cli_config: &Option<PathBuf>, serve: &ServeArgs) -> anyhow::Result<Application> {
    let mut config = load(cli_config, serve)?;
    config.listen = "127.0.0.1:0".parse()?;
    Ok(Application::build(config).await?)
}

async fn staff_command(cli_config: &Option<PathBuf>, command: &StaffCommand) -> anyhow::Result<()> {
    use custos_server::usecases::staff;
    match command {
        StaffCommand::Create { email, name, role, operator, serve } => {
            let app = one_shot(cli_config, serve).await?;
            let new = staff::NewStaff { email: email.clone(), name: name.clone(), role: role.clone() };
            match staff::create(app.state(), new, operator).await {
                Ok(c) => {
                    println!("created staff {} ({}) with staff ID {}", c.email, c.role.as_str(), c.code);
                    println!(
                        "one-time setup link (valid until {}; open it to set a password and an authenticator app):",
                        c.expires_at
                    );
                    println!("{}", c.setup_link);
                }
                Err(e) => exit_refused(e)?,
            }
        }
        StaffCommand::SetupLink { email, operator, serve } => {
            let app = one_shot(cli_config, serve).await?;
            match staff::reissue_setup_link(app.state(), email, operator).await {
                Ok(c) => {
                    println!(
                        "new one-time setup link for {} ({}), valid until {}:",
                        c.email, c.code, c.expires_at
                    );
                    println!("{}", c.setup_link);
                }
                Err(e) => exit_refused(e)?,
            }
        }
        StaffCommand::List(serve) => {
            let app = one_shot(cli_config, serve).await?;
            let all = staff::list(app.state()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if all.is_empty() {
                println!("no staff yet: custos staff create --email … --name … --role agent|analyst|admin");
            }
            for s in all {
                println!("{}\t{}\t{}\t{}\t{}", s.code, s.role.as_str(), s.status.as_str(), s.email, s.name);
            }
        }
        StaffCommand::Disable { email, operator, serve } => {
            let app = one_shot(cli_config, serve).await?;
            match staff::disable(app.state(), email, operator).await {
                Ok(n) => println!("disabled {email}; {n} sessions ended"),
                Err(e) => exit_refused(e)?,
            }
        }
    }
    Ok(())
}

async fn official_command(cli_config: &Option<PathBuf>, command: &OfficialCommand) -> anyhow::Result<()> {
    use custos_server::usecases::official_channels::{self as official, Registrar};
    match command {
        OfficialCommand::Add { kind, value, note, operator, serve } => {
            let app = one_shot(cli_config, serve).await?;
            match official::add(app.state(), Registrar::Operator(operator), kind, value, note.as_deref())
                .await
            {
                Ok(c) => println!("official {}: {}", c.kind.as_str(), c.value),
                Err(e) => exit_refused(e)?,
            }
        }
        OfficialCommand::Remove { kind, value, operator, serve } => {
            let app = one_shot(cli_config, serve).await?;
            match official::remove(app.state(), Registrar::Operator(operator), kind, value).await {
                Ok(()) => println!("removed {kind} {value}"),
                Err(e) => exit_refused(e)?,
            }
        }
        OfficialCommand::List(serve) => {
            let app = one_shot(cli_config, serve).await?;
            for c in official::list(app.state()).await.map_err(|e| anyhow::anyhow!("{e}"))? {
                println!("{}\t{}\t{}", c.kind.as_str(), c.value, c.note.unwrap_or_default());
            }
        }
    }
    Ok(())
}
