//! `BUNDLE test DAG_ID TASK_ID`: one task run against an in-process supervisor.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::TestArgs;
use crate::execute::RunOutcome;
use crate::serve::{Launch, LaunchError};

pub(crate) fn run(
    _args: &TestArgs,
    _stop_grace: Duration,
    _run: impl FnOnce(Launch) -> Result<RunOutcome, LaunchError>,
) -> ExitCode {
    eprintln!("error: the local runner is not built yet");
    ExitCode::from(2)
}
