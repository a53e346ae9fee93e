//! The command line every bundle executable understands.
//!
//! ```text
//! BUNDLE --comm=HOST:PORT --logs=HOST:PORT      run one task for the Airflow supervisor
//! BUNDLE --airflow-metadata [--format yaml|json] print the bundle's metadata
//! BUNDLE test DAG_ID TASK_ID [--var K=V]... [--conn ID=URI]... [--xcom TASK:KEY=JSON]...
//!                                              run one task locally, without Airflow
//! ```

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::bundle::BundleMetadata;

#[derive(Debug, Parser)]
#[command(
    about = "An Apache Airflow task bundle built with the Rust Task SDK.",
    long_about = None,
    after_help = "Airflow's ExecutableCoordinator runs this program with --comm and --logs."
)]
struct Cli {
    /// Address of the supervisor's comm socket (set by Airflow).
    #[arg(long, value_name = "HOST:PORT", requires = "logs", value_parser = parse_address)]
    comm: Option<String>,

    /// Address of the supervisor's logs socket (set by Airflow).
    #[arg(long, value_name = "HOST:PORT", requires = "comm", value_parser = parse_address)]
    logs: Option<String>,

    /// Print the bundle's metadata (DAGs, tasks, SDK and schema versions) and exit.
    #[arg(long, conflicts_with_all = ["comm", "logs"])]
    airflow_metadata: bool,

    /// Format of --airflow-metadata.
    #[arg(long, value_enum, default_value_t = MetadataFormat::Yaml, requires = "airflow_metadata")]
    format: MetadataFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one task locally with an in-process supervisor: no Python, no Airflow.
    Test(TestArgs),
}

/// Arguments of the local `test` run.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TestArgs {
    /// The DAG id.
    pub dag_id: String,
    /// The task id.
    pub task_id: String,
    /// A variable the task can read: KEY=VALUE (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub vars: Vec<(String, String)>,
    /// A connection the task can read: ID=URI or ID=JSON (repeatable).
    #[arg(long = "conn", value_name = "ID=URI", value_parser = parse_pair)]
    pub conns: Vec<(String, String)>,
    /// An XCom of an upstream task: TASK:KEY=JSON, or TASK=JSON for its return value.
    #[arg(long = "xcom", value_name = "TASK:KEY=JSON", value_parser = parse_pair)]
    pub xcoms: Vec<(String, String)>,
    /// The run id (default: a manual run id for now).
    #[arg(long)]
    pub run_id: Option<String>,
    /// The map index of a mapped task instance.
    #[arg(long)]
    pub map_index: Option<i64>,
    /// The try number.
    #[arg(long, default_value_t = 1)]
    pub try_number: i64,
    /// How many tries the task has; failures below it report up_for_retry.
    #[arg(long, default_value_t = 1)]
    pub max_tries: i64,
    /// The DAG run's conf, as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub conf: Option<String>,
}

/// Formats of `--airflow-metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetadataFormat {
    /// `airflow-metadata.yaml`, as embedded in bundles.
    Yaml,
    /// The same as JSON.
    Json,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run one task for the supervisor.
    Run {
        /// The comm socket address.
        comm: String,
        /// The logs socket address.
        logs: String,
    },
    /// Print the metadata.
    Metadata(MetadataFormat),
    /// Run a task locally.
    Test(TestArgs),
}

/// Parses the command line of a bundle called `name` (shown by `--help` and `--version`).
/// Usage errors (for example `--comm` without `--logs`) come back as a clap error whose
/// `exit()` prints the usage and exits with status 2.
pub fn parse_mode<I, T>(name: &str, version: &str, args: I) -> Result<Mode, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = Cli::command()
        .name(name.to_owned())
        .version(version.to_owned());
    let matches = command.try_get_matches_from_mut(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    match (cli.comm, cli.logs, cli.airflow_metadata, cli.command) {
        (Some(comm), Some(logs), false, None) => Ok(Mode::Run { comm, logs }),
        (None, None, true, None) => Ok(Mode::Metadata(cli.format)),
        (None, None, false, Some(Command::Test(args))) => Ok(Mode::Test(args)),
        (None, None, false, None) => Err(command.error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "nothing to do: pass --comm and --logs (Airflow does), --airflow-metadata, or `test`",
        )),
        _ => Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--comm/--logs, --airflow-metadata and `test` cannot be combined",
        )),
    }
}

/// Renders metadata in a format.
pub fn render_metadata(metadata: &BundleMetadata, format: MetadataFormat) -> String {
    match format {
        MetadataFormat::Yaml => metadata.to_yaml(),
        MetadataFormat::Json => {
            let mut text = serde_json::to_string_pretty(&metadata.to_json()).expect("JSON encodes");
            text.push('\n');
            text
        }
    }
}

fn parse_address(text: &str) -> Result<String, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not HOST:PORT"))?;
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("{text:?} has no valid port"))?;
    Ok(text.to_owned())
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, clap::Error> {
        parse_mode(
            "bundle",
            "1.0",
            std::iter::once("bundle").chain(args.iter().copied()),
        )
    }

    #[test]
    fn comm_and_logs_together_run_a_task() {
        assert_eq!(
            mode(&["--comm=127.0.0.1:1", "--logs=127.0.0.1:2"]).unwrap(),
            Mode::Run {
                comm: "127.0.0.1:1".into(),
                logs: "127.0.0.1:2".into()
            }
        );
    }

    #[test]
    fn one_socket_alone_is_a_usage_error_with_status_2() {
        for args in [&["--comm=127.0.0.1:1"][..], &["--logs=127.0.0.1:2"], &[]] {
            let error = mode(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
        assert_eq!(
            mode(&["--comm=nohost", "--logs=127.0.0.1:2"])
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn metadata_and_test_modes() {
        assert_eq!(
            mode(&["--airflow-metadata"]).unwrap(),
            Mode::Metadata(MetadataFormat::Yaml)
        );
        assert_eq!(
            mode(&["--airflow-metadata", "--format", "json"]).unwrap(),
            Mode::Metadata(MetadataFormat::Json)
        );
        let Mode::Test(args) =
            mode(&["test", "d", "t", "--var", "k=v=w", "--xcom", "up:key=[1]"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(args.vars, vec![("k".to_owned(), "v=w".to_owned())]);
        assert_eq!(args.xcoms, vec![("up:key".to_owned(), "[1]".to_owned())]);
        assert!(mode(&["--airflow-metadata", "--comm=a:1", "--logs=a:2"]).is_err());
    }
}
