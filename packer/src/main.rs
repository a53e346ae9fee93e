//! The `airflow-rust-pack` command line; see the crate docs of `airflow_bundle_pack`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use airflow_bundle_pack::pack::{pack, PackOptions};
use airflow_bundle_pack::verify::{describe, read_bundle, verify};
use clap::{Parser, Subcommand};

/// Packs, inspects and verifies AFBNDL01 executable bundles for Airflow's
/// ExecutableCoordinator.
#[derive(Parser)]
#[command(name = "airflow-rust-pack", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Packs BINARY, the DAG source and BINARY's metadata into one bundle.
    ///
    /// Runs `BINARY --airflow-metadata --format json`, sets `source` to the source file's
    /// name, and writes OUTPUT = BINARY + source + metadata YAML + 64-byte trailer, atomically
    /// and with mode 0755. A BINARY that is already a bundle is refused unless --repack.
    Pack {
        /// The executable built with the Airflow Rust Task SDK.
        binary: PathBuf,
        /// The DAG source file to embed (UTF-8).
        #[arg(long, value_name = "FILE")]
        source: PathBuf,
        /// The bundle to write.
        #[arg(short, long, value_name = "OUTPUT")]
        output: PathBuf,
        /// Replaces the bundle name the binary reports.
        #[arg(long)]
        name: Option<String>,
        /// Replaces the bundle version the binary reports.
        #[arg(long = "version", value_name = "V")]
        bundle_version: Option<String>,
        /// BINARY is a bundle: replace its source and metadata, keeping its executable region
        /// (whose SHA-256 must still match its trailer).
        #[arg(long)]
        repack: bool,
        /// Seconds BINARY may take to print its metadata.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        timeout: u64,
    },
    /// Prints a bundle's layout, hashes and metadata YAML (exit 1 only when the trailer cannot
    /// be read; `verify` judges the rest).
    Inspect {
        /// The bundle.
        bundle: PathBuf,
    },
    /// Checks a bundle as Airflow 1.3.2 would before running it; exit 1 with the file, what is
    /// wrong and where.
    Verify {
        /// The bundle.
        bundle: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Pack {
            binary,
            source,
            output,
            name,
            bundle_version,
            repack,
            timeout,
        } => {
            let options = PackOptions {
                name,
                version: bundle_version,
                repack,
                metadata_timeout: Duration::from_secs(timeout),
                ..PackOptions::new(binary, source, output)
            };
            pack(&options).map(|packed| print!("{}", packed.summary()))
        }
        Cmd::Inspect { bundle } => read_bundle(&bundle).map(|b| print!("{}", describe(&b))),
        Cmd::Verify { bundle } => verify(&bundle).map(|v| {
            let dags: Vec<_> = v
                .metadata
                .dags
                .iter()
                .map(|(dag, tasks)| match tasks {
                    Some(n) => format!("{dag} ({n} tasks)"),
                    None => dag.clone(),
                })
                .collect();
            println!(
                "ok {}: {} bytes, supervisor schema {}, DAGs: {}",
                bundle.display(),
                v.bundle.file_len,
                v.metadata.supervisor_schema_version,
                dags.join(", ")
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("airflow-rust-pack: error: {error}");
            ExitCode::FAILURE
        }
    }
}
