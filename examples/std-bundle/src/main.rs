//! An example bundle on the blocking std adapter.
//!
//! DAG `etl_std` is a realistic extract-transform-load (see `etl.rs`); `etl_failure_std`
//! shows a failing task. DAG `interop` holds one task per behaviour the interop suite checks under the real Airflow
//! supervisor; the same tasks exist in the tokio and smol example bundles.

use std::time::Duration;

use airflow_sdk_std::prelude::*;

mod etl;
#[path = "../../shared/etl_logic.rs"]
mod etl_logic;
#[path = "../../shared/interop_support.rs"]
mod interop_support;
use interop_support::{LoadFailed, WarehouseDown};
use serde::{Deserialize, Serialize};

fn main() -> std::process::ExitCode {
    Bundle::new("example-std-bundle")
        .version(env!("CARGO_PKG_VERSION"))
        .dag("interop", |dag| {
            dag.task("extract", extract)
                .task("load", load)
                .task("fail", fail)
                .task("retry", retry)
                .task("skip", skip)
                .task("panic", panic)
                .task("defer", defer)
                .on_resume("resume_after_wait", resume_after_wait)
                .task("api_error", api_error)
                .task("missing_variable", missing_variable)
                .task("env_variable", env_variable)
                .task("secrets", secrets)
                .task("log_levels", log_levels)
                .task("log_fields", log_fields)
                .task("wait_for_sigterm", wait_for_sigterm)
                .task("slow_request", slow_request)
                .task("reschedule", reschedule)
                .task("bench_small", bench_small)
                .task("bench_round_trips", bench_round_trips)
        })
        .dag("etl_std", etl::etl)
        .dag("etl_failure_std", etl::etl_failure)
        .serve()
}

/// What `extract` returns and `load` reads.
#[derive(Debug, Serialize, Deserialize)]
struct Extracted {
    source: String,
    host: String,
    rows: Vec<u32>,
}

fn extract(ctx: &TaskContext) -> Result<Extracted, TaskError> {
    let source = ctx.get_variable("source_path")?;
    let warehouse = ctx.get_connection("warehouse")?;
    let host = warehouse.host.clone().unwrap_or_default();
    tracing::info!(%source, %host, "extracting");
    Ok(Extracted {
        source,
        host,
        rows: vec![3, 1, 2],
    })
}

fn load(ctx: &TaskContext) -> Result<u32, TaskError> {
    let extracted: Extracted = ctx
        .xcom_pull("extract", "return_value")?
        .ok_or_else(|| TaskError::msg("extract pushed nothing"))?;
    let total: u32 = extracted.rows.iter().sum();
    ctx.xcom_push("row_count", &extracted.rows.len())?;
    tracing::info!(total, rows = extracted.rows.len(), "loaded");
    Ok(total)
}

fn fail(_ctx: &TaskContext) -> Result<(), LoadFailed> {
    Err(LoadFailed(WarehouseDown))
}

fn retry(_ctx: &TaskContext) -> Result<(), TaskError> {
    Err(TaskError::retry()
        .after(Duration::from_secs(30))
        .because("upstream not ready"))
}

fn skip(_ctx: &TaskContext) -> Result<(), TaskError> {
    Err(TaskError::skip("nothing to do today"))
}

fn panic(_ctx: &TaskContext) -> Result<(), TaskError> {
    panic!("kaboom: index out of range");
}

fn defer(_ctx: &TaskContext) -> Result<(), TaskError> {
    let wake_at = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").map_err(TaskError::failure)?;
    Err(TaskError::defer(
        Defer::until(wake_at, "resume_after_wait")
            .next_kwarg("attempt", 1)
            .timeout(Duration::from_secs(3600)),
    ))
}

fn resume_after_wait(ctx: &TaskContext) -> Result<String, TaskError> {
    let resume = ctx.resume().ok_or_else(|| TaskError::msg("not resumed"))?;
    tracing::info!(method = %resume.method, kwargs = %JsonValue::Object(resume.kwargs.clone()), "resumed");
    Ok(format!("resumed via {}", resume.method))
}

fn api_error(ctx: &TaskContext) -> Result<(), TaskError> {
    match ctx.set_variable("conflicting", "x", None) {
        Err(ClientError::Api {
            status, message, ..
        }) => {
            tracing::error!(status = status.unwrap_or(0), api_message = %message, "the API refused the write");
            Err(TaskError::msg(format!(
                "writing the variable failed with HTTP {}",
                status.unwrap_or(0)
            )))
        }
        Err(other) => Err(other.into()),
        Ok(()) => Err(TaskError::msg("the write should have failed")),
    }
}

fn missing_variable(ctx: &TaskContext) -> Result<String, TaskError> {
    match ctx.get_variable("does_not_exist") {
        Err(e) if e.is_not_found() => {
            tracing::warn!(error = %e, "variable missing; using the default");
            Ok("default".to_owned())
        }
        Err(e) => Err(e.into()),
        Ok(value) => Ok(value),
    }
}

fn env_variable(ctx: &TaskContext) -> Result<String, TaskError> {
    let value = ctx.get_variable("from_env")?;
    // The supervisor never saw this value; the SDK registered it for masking first.
    tracing::info!(value = %value, "read a variable from the environment");
    Ok(value.len().to_string())
}

fn secrets(ctx: &TaskContext) -> Result<(), TaskError> {
    let conn = ctx.get_connection("warehouse")?;
    let password = conn.password().unwrap_or_default();
    tracing::info!("connecting with password {password}");
    tracing::info!(?conn, "connection debug output hides secrets");
    Ok(())
}

fn log_levels(_ctx: &TaskContext) -> Result<(), TaskError> {
    interop_support::emit_log_levels();
    Ok(())
}

fn log_fields(_ctx: &TaskContext) -> Result<(), TaskError> {
    interop_support::emit_log_fields();
    Ok(())
}

fn wait_for_sigterm(ctx: &TaskContext) -> Result<(), TaskError> {
    tracing::info!("waiting for SIGTERM");
    for _ in 0..300 {
        if ctx.is_cancelled() {
            tracing::warn!("cancelled; cleaning up");
            return Err(TaskError::msg("stopped by SIGTERM"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn slow_request(ctx: &TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("slow")?)
}

fn reschedule(_ctx: &TaskContext) -> Result<(), TaskError> {
    let again = Timestamp::parse_rfc3339("2030-01-01T00:05:00Z").map_err(TaskError::failure)?;
    Err(TaskError::reschedule(again))
}

// `scripts/bench`: one variable read, its value pushed as XCom `return_value`.
fn bench_small(ctx: &TaskContext) -> Result<String, TaskError> {
    Ok(ctx.get_variable("bench_value")?)
}

// `scripts/bench`: times `bench_requests` variable reads, one at a time (nanoseconds each).
fn bench_round_trips(ctx: &TaskContext) -> Result<Vec<u64>, TaskError> {
    let n: usize = ctx
        .get_variable("bench_requests")?
        .parse()
        .map_err(TaskError::failure)?;
    let mut nanos = Vec::with_capacity(n);
    for _ in 0..n {
        let start = std::time::Instant::now();
        ctx.get_variable("bench_value")?;
        nanos.push(start.elapsed().as_nanos() as u64);
    }
    Ok(nanos)
}
